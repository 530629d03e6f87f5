package sfctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"

	"github.com/spf13/cobra"

	"github.com/screenfleet/screenfleet/internal/taskstore"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

func newCancelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID [ID...]",
		Short: "Cancel tasks that have not ended",
		Long: `cancel moves each task to the final state cancelled in the task state bucket.
The dispatcher running the task notices, stops its sandbox and does not run
it again; a queued task is skipped when a dispatcher takes it. A task that
has already ended is left as it is.`,
		Example: `  sfctl cancel login-001
  sfctl tasks --state running -o json | jq -r '.[].id' | xargs sfctl cancel`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeTaskIDs(g, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCancel(cmd.Context(), g, args)
		},
	}
}

func runCancel(ctx context.Context, g *globals, ids []string) error {
	c, kv, err := g.connectTasks(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	store := taskstore.New(kv)
	var errs []error
	for _, id := range ids {
		if err := cancelOne(ctx, g, store, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
		return fmt.Errorf("no task %q: ids are case-sensitive ('sfctl tasks' lists them); a task no dispatcher has taken yet has no state to cancel, try again in a moment", id)
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
		fmt.Fprintf(g.out, "cancelled %s (was %s in sandbox %s; its dispatcher stops the sandbox)\n", id, was.State, was.Sandbox)
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
