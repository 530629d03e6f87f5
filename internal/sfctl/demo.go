package sfctl

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

func newDemoCmd(g *globals) *cobra.Command {
	var o devOpts
	var tasksDir string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start the system, run the example tasks, print their outcomes, stop",
		Long: `demo is 'sfctl dev' plus the example tasks: it starts everything with a fresh
data directory, submits every task in --tasks, follows each to its end, prints
the step timings and a summary, and stops. It exits 1 if any task failed.`,
		Example: "  sfctl demo --tasks examples/tasks --site examples/site",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			quietDemoLogs(cmd, g)
			dir, err := os.MkdirTemp("", "sfdemo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			o.dataDir = dir
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return runDemo(ctx, g, cmd.ErrOrStderr(), o, tasksDir)
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&tasksDir, "tasks", "examples/tasks", "folder of task files to run")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long")
	_ = cmd.Flags().MarkHidden("data-dir")
	return cmd
}

func runDemo(ctx context.Context, g *globals, warn io.Writer, o devOpts, tasksDir string) error {
	tasks, err := readTaskDir(tasksDir, warn)
	if err != nil {
		return err
	}
	st, err := startStack(ctx, g, o)
	if err != nil {
		return err
	}
	defer st.stop()
	st.describe(g)
	c := &conn{nc: st.nc, sub: messages.NewSubjects(g.prefix)}
	if c.js, err = jetstream.New(st.nc); err != nil {
		return err
	}
	for _, t := range tasks {
		if _, err := publishTask(ctx, c, t); err != nil {
			return err
		}
	}
	fmt.Fprintf(g.out, "submitted %d task%s from %s\n", len(tasks), plural(len(tasks)), tasksDir)
	results, err := followAll(ctx, g, c, tasks)
	if err != nil {
		return err
	}
	return summarise(g, results)
}

func readTaskDir(dir string, warn io.Writer) ([]messages.Task, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no task files (*.json) in %s", dir)
	}
	sort.Strings(files)
	tasks := make([]messages.Task, 0, len(files))
	for _, f := range files {
		t, err := readTask(f, warn)
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, t)
	}
	return tasks, nil
}

func followAll(ctx context.Context, g *globals, c *conn,
	tasks []messages.Task) ([]messages.TaskStatus, error) {
	kv, err := c.tasks(ctx)
	if err != nil {
		return nil, err
	}
	results := make([]messages.TaskStatus, 0, len(tasks))
	for _, t := range tasks {
		fmt.Fprintf(g.out, "\n== %s (%d step%s)\n", t.ID, len(t.Steps), plural(len(t.Steps)))
		st, err := follow(ctx, c, kv, t.ID, newPrinter(g.out))
		if err != nil {
			return nil, err
		}
		results = append(results, st)
	}
	return results, nil
}

func summarise(g *globals, results []messages.TaskStatus) error {
	fmt.Fprintln(g.out)
	tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tSTATE\tSTEPS\tTOOK\tSLOWEST STEP")
	failed := 0
	for _, st := range results {
		if st.State != messages.StateSucceeded {
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%s\n", st.ID, st.State, len(st.Steps), st.StepCount,
			roundDur(st.FinishedAt.Sub(st.StartedAt)), slowest(st))
	}
	_ = tw.Flush()
	if failed > 0 {
		return withExit(1, fmt.Errorf("%d of %d example tasks did not succeed", failed, len(results)))
	}
	fmt.Fprintf(g.out, "all %d example tasks succeeded\n", len(results))
	return nil
}

func slowest(st messages.TaskStatus) string {
	best := -1
	for i, s := range st.Steps {
		if best < 0 || s.Duration > st.Steps[best].Duration {
			best = i
		}
	}
	if best < 0 {
		return "-"
	}
	s := st.Steps[best]
	return fmt.Sprintf("%d %s (%s)", s.Index+1, s.Action, roundDur(s.Duration.D()))
}

// quietDemoLogs keeps the daemons' info lines out of the demo's report,
// which says the same in readable form, unless the user asked for a level.
func quietDemoLogs(cmd *cobra.Command, g *globals) {
	if _, set := os.LookupEnv(envName("log-level")); !set && !cmd.Flags().Changed("log-level") {
		g.logLevel = "warn"
	}
}
