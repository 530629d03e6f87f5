package sfctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// Output formats of the listing commands.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// outputFlag adds --output (-o) to a listing command.
func outputFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVarP(dst, "output", "o", outputTable, "output format: table or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]string{outputTable, outputJSON}, cobra.ShellCompDirectiveNoFileComp))
}

// checkOutput refuses an unknown --output value, naming the known ones.
func checkOutput(format string) error {
	if format != outputTable && format != outputJSON {
		return withExit(2, fmt.Errorf("--output %q: use table or json", format))
	}
	return nil
}

// writeJSON writes v as indented JSON, one document per call.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// newTable returns a tabwriter for column output; Flush it when done.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// age formats how long ago t was, coarsely: 45s, 12m, 3h, 2d; "-" for a
// zero time.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(int(d.Seconds()), 0))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// truncate shortens s to n runes with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// runListing is the body of a listing command: check --output, connect,
// fetch, and write the result as JSON or through print.
func runListing[T any](ctx context.Context, g *globals, output string,
	fetch func(context.Context, *conn) (T, error), print func(T)) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	c, err := g.connect()
	if err != nil {
		return err
	}
	defer c.close()
	v, err := fetch(ctx, c)
	if err != nil {
		return err
	}
	if output == outputJSON {
		return writeJSON(g.out, v)
	}
	print(v)
	return nil
}
