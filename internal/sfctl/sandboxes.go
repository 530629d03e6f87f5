package sfctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

func newSandboxesCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "sandboxes",
		Aliases: []string{"sb"},
		Short:   "List the sandboxes every dispatcher holds",
		Long: `sandboxes asks every dispatcher (a request on sf.sandboxes.list that each
answers) for the sandboxes it holds now: state, task, age, runtime, the
sandbox's health (ZOMBIES: exited processes nothing reaped, which pile up
without an init; SHM: its /dev/shm, which Firefox needs big) and, when the
runtime runs a VNC server, where to watch the display.`,
		Example: `  sfctl sandboxes
  sfctl sandboxes -o json | jq '.[].sandboxes[] | {id, task}'`,
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runListing(cmd.Context(), g, output, listSandboxes, func(lists []messages.SandboxList) {
				printSandboxes(g.out, g.now(), lists)
			})
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

// listSandboxes gathers every dispatcher's sandbox list, ordered by
// dispatcher id.
func listSandboxes(ctx context.Context, c *conn) ([]messages.SandboxList, error) {
	replies, err := gather(ctx, c.nc, c.sub.SandboxList())
	if errors.Is(err, errNoAnswer) {
		return nil, fmt.Errorf("no dispatcher answered on %s: is one running? (start one with 'sfctl dev')",
			c.sub.SandboxList())
	}
	if err != nil {
		return nil, err
	}
	lists := make([]messages.SandboxList, 0, len(replies))
	for _, b := range replies {
		var l messages.SandboxList
		if err := messages.Decode(b, &l); err != nil {
			return nil, fmt.Errorf("sandbox list: %w", err)
		}
		lists = append(lists, l)
	}
	slices.SortFunc(lists, func(a, b messages.SandboxList) int {
		return strings.Compare(a.Dispatcher,
			b.Dispatcher)
	})
	return lists, nil
}

func printSandboxes(w io.Writer, now time.Time, lists []messages.SandboxList) {
	held, capacity := 0, 0
	for _, l := range lists {
		held += len(l.Sandboxes)
		capacity += l.Capacity
	}
	if held > 0 {
		sandboxTable(w, now, lists)
	}
	fmt.Fprintf(w, "%d of %d sandbox slots in use on %d dispatcher%s\n", held, capacity, len(lists),
		plural(len(lists)))
}

// sandboxTable writes one row per sandbox.
func sandboxTable(w io.Writer, now time.Time, lists []messages.SandboxList) {
	tw := newTable(w)
	fmt.Fprintln(tw, "SANDBOX\tSTATE\tTASK\tATTEMPT\tAGE\tRUNTIME\tDISPATCHER\tZOMBIES\tSHM\tVNC")
	for _, l := range lists {
		for _, s := range l.Sandboxes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.State, s.Task, s.Attempt,
				age(now, s.Started), s.Runtime, l.Dispatcher, zombies(s.Zombies), shmSize(s.ShmBytes),
				orDash(s.VNC))
		}
	}
	_ = tw.Flush()
}

// zombies shows a sandbox's unreaped processes, "-" when unknown.
func zombies(n *int) string {
	if n == nil {
		return "-"
	}
	return strconv.Itoa(*n)
}

// shmSize shows a /dev/shm size in MiB or GiB, "-" when unknown.
func shmSize(b int64) string {
	switch {
	case b <= 0:
		return "-"
	case b >= 1<<30 && b%(1<<30) == 0:
		return strconv.FormatInt(b>>30, 10) + "GiB"
	}
	return strconv.FormatInt(b>>20, 10) + "MiB"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
