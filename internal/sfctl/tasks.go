package sfctl

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

type tasksOpts struct {
	limit  int
	state  string
	output string
}

func newTasksCmd(g *globals) *cobra.Command {
	var o tasksOpts
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "List recent tasks with their state, duration and steps",
		Long: `tasks lists the tasks in the task state bucket (sf_tasks), newest first:
state, attempt, steps done of the task's steps, how long it ran (or has been
running), when it was submitted, and why it failed.`,
		Example: `  sfctl tasks
  sfctl tasks --state failed --limit 50
  sfctl tasks -o json | jq -r '.[] | select(.state=="failed") | .id'`,
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTasks(cmd.Context(), g, o)
		},
	}
	cmd.Flags().IntVarP(&o.limit, "limit", "n", 20, "show at most this many tasks (0: all)")
	cmd.Flags().StringVar(&o.state, "state", "",
		"only tasks in this state (queued, assigned, running, succeeded, failed, cancelled)")
	_ = cmd.RegisterFlagCompletionFunc("state", cobra.FixedCompletions(stateNames(),
		cobra.ShellCompDirectiveNoFileComp))
	outputFlag(cmd, &o.output)
	return cmd
}

func stateNames() []string {
	return []string{string(messages.StateQueued), string(messages.StateAssigned), string(messages.StateRunning),
		string(messages.StateSucceeded), string(messages.StateFailed), string(messages.StateCancelled)}
}

func runTasks(ctx context.Context, g *globals, o tasksOpts) error {
	if o.state != "" && !slices.Contains(stateNames(), o.state) {
		return withExit(2, fmt.Errorf("--state %q: use one of %s", o.state, strings.Join(stateNames(), ", ")))
	}
	total := 0
	fetch := func(ctx context.Context, c *conn) ([]messages.TaskStatus, error) {
		kv, err := c.tasks(ctx)
		if err != nil {
			return nil, err
		}
		all, err := listTasks(ctx, kv)
		total = len(all)
		return selectTasks(all, o), err
	}
	return runListing(ctx, g, o.output, fetch, func(shown []messages.TaskStatus) {
		printTasks(g.out, g.now(), shown, total)
	})
}

// listTasks reads every task's current state from the bucket.
// Known shortcoming: it reads the whole bucket each time; with many
// thousands of tasks, listings would want an index by submission time.
func listTasks(ctx context.Context, kv jetstream.KeyValue) ([]messages.TaskStatus, error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read task states: %w", err)
	}
	defer func() { _ = w.Stop() }()
	var out []messages.TaskStatus
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("read task states: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("read task states: watch ended")
			}
			if e == nil { // every current value has been delivered
				return out, nil
			}
			var st messages.TaskStatus
			if err := messages.Decode(e.Value(), &st); err != nil {
				return nil, fmt.Errorf("task %s: %w", e.Key(), err)
			}
			out = append(out, st)
		}
	}
}

// selectTasks filters by state and keeps the newest limit tasks, newest first.
func selectTasks(all []messages.TaskStatus, o tasksOpts) []messages.TaskStatus {
	out := make([]messages.TaskStatus, 0, len(all))
	for _, st := range all {
		if o.state == "" || string(st.State) == o.state {
			out = append(out, st)
		}
	}
	sortNewestFirst(out)
	if o.limit > 0 && len(out) > o.limit {
		out = out[:o.limit]
	}
	return out
}

func sortNewestFirst(ts []messages.TaskStatus) {
	slices.SortFunc(ts, func(a, b messages.TaskStatus) int {
		if c := b.SubmittedAt.Compare(a.SubmittedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

func printTasks(w io.Writer, now time.Time, ts []messages.TaskStatus, total int) {
	if total == 0 {
		fmt.Fprintln(w, "no tasks yet: submit one with 'sfctl submit examples/tasks/login.json --wait'")
		return
	}
	if len(ts) == 0 {
		fmt.Fprintf(w, "none of the %d tasks matches\n", total)
		return
	}
	taskTable(w, now, ts)
	if len(ts) < total {
		fmt.Fprintf(w, "(%d of %d tasks; --limit 0 shows all)\n", len(ts), total)
	}
}

// taskTable writes one row per task.
func taskTable(w io.Writer, now time.Time, ts []messages.TaskStatus) {
	tw := newTable(w)
	fmt.Fprintln(tw, "TASK\tSTATE\tATTEMPT\tSTEPS\tDURATION\tSUBMITTED\tREASON")
	for _, st := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d/%d\t%s\t%s ago\t%s\n", st.ID, st.State, st.Attempt,
			len(st.Steps), st.StepCount, taskDuration(now, st), age(now, st.SubmittedAt), reason(st))
	}
	_ = tw.Flush()
}

// taskDuration is how long the task ran, or has been running ("12s…").
func taskDuration(now time.Time, st messages.TaskStatus) string {
	switch {
	case st.StartedAt.IsZero():
		return "-"
	case st.State.Final() && !st.FinishedAt.IsZero():
		return roundDur(st.FinishedAt.Sub(st.StartedAt))
	}
	return roundDur(now.Sub(st.StartedAt)) + "…"
}

// reason says briefly why a task failed or was cancelled.
func reason(st messages.TaskStatus) string {
	if st.State == messages.StateSucceeded || st.Error == "" {
		return ""
	}
	return st.Code.Name() + ": " + truncate(st.Error, 60)
}
