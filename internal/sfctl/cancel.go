package sfctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/screenfleet/screenfleet/internal/taskstore"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

type cancelOpts struct {
	wait    bool
	timeout time.Duration
}

func newCancelCmd(g *globals) *cobra.Command {
	var o cancelOpts
	cmd := &cobra.Command{
		Use:   "cancel ID [ID...]",
		Short: "Cancel tasks that have not ended",
		Long: `cancel moves each task to the final state cancelled in the task state bucket.
The dispatcher running the task notices, stops its sandbox and does not run
it again; a queued task is skipped when a dispatcher takes it. A task that
has already ended is left as it is. With --wait, cancel waits until no
dispatcher holds a sandbox for the tasks any more.`,
		Example: `  sfctl cancel login-001
  sfctl cancel --wait login-001
  sfctl tasks --state running -o json | jq -r '.[].id' | xargs sfctl cancel`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeTaskIDs(g, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCancel(cmd.Context(), g, args, o)
		},
	}
	cmd.Flags().BoolVarP(&o.wait, "wait", "w", false, "wait until the tasks' sandboxes are stopped")
	cmd.Flags().DurationVar(&o.timeout, "timeout", time.Minute, "give up waiting after this long")
	return cmd
}

func runCancel(ctx context.Context, g *globals, ids []string, o cancelOpts) error {
	c, kv, err := g.connectTasks(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	store := taskstore.New(kv)
	var errs []error
	var cancelled []string
	for _, id := range ids {
		if err := cancelOne(ctx, g, store, id); err != nil {
			errs = append(errs, err)
		} else {
			cancelled = append(cancelled, id)
		}
	}
	if o.wait && len(cancelled) > 0 {
		errs = append(errs, waitSandboxesGone(ctx, g, c, cancelled, o.timeout))
	}
	return errors.Join(errs...)
}

// sandboxPoll is how often --wait asks the dispatchers again; a sandbox
// takes a second or more to stop.
const sandboxPoll = 500 * time.Millisecond

// waitSandboxesGone waits until no dispatcher lists a sandbox for the
// tasks, saying once which sandboxes it waits for.
func waitSandboxesGone(ctx context.Context, g *globals, c *conn, tasks []string,
	limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	said := map[string]bool{}
	for {
		lists, err := listSandboxes(ctx, c)
		if err != nil {
			return fmt.Errorf("waiting for the sandboxes to stop: %w", err)
		}
		left := sandboxesOf(lists, tasks)
		for _, sb := range left {
			if !said[sb.ID] {
				said[sb.ID] = true
				fmt.Fprintf(g.out, "… waiting for sandbox %s (task %s) to stop\n", sb.ID, sb.Task)
			}
		}
		if len(left) == 0 {
			fmt.Fprintln(g.out, "no sandbox left for the cancelled tasks")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sandboxes still running after %s: check 'sfctl sandboxes' and the dispatcher's log", limit)
		case <-time.After(sandboxPoll):
		}
	}
}

// sandboxesOf returns the listed sandboxes that run one of tasks.
func sandboxesOf(lists []messages.SandboxList, tasks []string) []messages.SandboxInfo {
	var out []messages.SandboxInfo
	for _, l := range lists {
		for _, sb := range l.Sandboxes {
			if slices.Contains(tasks, sb.Task) {
				out = append(out, sb)
			}
		}
	}
	return out
}

func cancelOne(ctx context.Context, g *globals, store *taskstore.Store, id string) error {
	why := "cancelled by " + whoami()
	var was messages.TaskStatus
	_, err := store.Transition(ctx, id, messages.StateCancelled, func(st *messages.TaskStatus) error {
		was = *st
		st.Code, st.Error = messages.CodeCancelled, why
		return nil
	})
	switch {
	case errors.Is(err, taskstore.ErrNotFound):
		return fmt.Errorf("no task %q: ids are case-sensitive ('sfctl tasks' lists them); "+
			"a task no dispatcher has taken yet has no state to cancel, try again in a moment", id)
	case errors.Is(err, taskstore.ErrStaleTransition):
		state := was.State
		if state == "" { // Transition found it cancelled before reading further
			state = messages.StateCancelled
		}
		return fmt.Errorf("task %s has already ended (%s): nothing to cancel", id, state)
	case err != nil:
		return fmt.Errorf("cancel %s: %w", id, err)
	}
	if was.Sandbox != "" {
		fmt.Fprintf(g.out, "cancelled %s (was %s in sandbox %s; its dispatcher stops the sandbox)\n",
			id, was.State, was.Sandbox)
	} else {
		fmt.Fprintf(g.out, "cancelled %s (was %s)\n", id, was.State)
	}
	return nil
}

// whoami names the person cancelling, for the task's error text.
func whoami() string {
	name := "sfctl"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if host, err := os.Hostname(); err == nil && host != "" {
		name += "@" + host
	}
	return name
}
