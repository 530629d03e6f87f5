package sfctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

func newStatusCmd(g *globals) *cobra.Command {
	var output string
	var followIt bool
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show a task's state and step log",
		Long: `status shows one task from the task state bucket: its state and attempt, the
sandbox it ran in, each step with its duration, what it did and where its time
went, and for a task that failed, the error and the texts that were on screen.
With --follow it keeps printing steps until the task ends, and exits 1 if it
did not succeed.`,
		Example: `  sfctl status login-001
  sfctl status login-001 --follow
  sfctl status login-001 -o json | jq '.steps[] | {action, duration}'`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTaskIDs(g, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if followIt && output == outputJSON {
				return withExit(2, errors.New("--follow prints steps as they come: use it without -o json"))
			}
			return runStatus(cmd.Context(), g, args[0], output, followIt)
		},
	}
	outputFlag(cmd, &output)
	cmd.Flags().BoolVarP(&followIt, "follow", "f", false,
		"keep printing until the task ends; exit 1 if it failed")
	return cmd
}

func runStatus(ctx context.Context, g *globals, id, output string, followIt bool) error {
	c, kv, err := g.connectTasks(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	st, ok, err := getStatus(ctx, kv, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no task %q: ids are case-sensitive ('sfctl tasks' lists them); "+
			"was it submitted to this server?", id)
	}
	if output == outputJSON {
		return writeJSON(g.out, st)
	}
	p := newPrinter(g.out)
	p.full(st)
	if !followIt {
		return nil
	}
	if !st.State.Final() {
		p.printed, p.state, p.attempt = len(st.Steps), st.State, st.Attempt
		if st, err = follow(ctx, c, kv, id, p); err != nil {
			return err
		}
	}
	if st.State != messages.StateSucceeded {
		return withExit(1, fmt.Errorf("task %s %s", id, st.State))
	}
	return nil
}

// quietWarning is how long follow waits for a first state before it says
// why no dispatcher has taken the task.
const quietWarning = 10 * time.Second

// follow watches a task's state until it is final, printing each new step.
func follow(ctx context.Context, c *conn, kv jetstream.KeyValue, id string,
	p *printer) (messages.TaskStatus, error) {
	w, err := kv.Watch(ctx, id)
	if err != nil {
		return messages.TaskStatus{}, fmt.Errorf("watch task %s: %w", id, err)
	}
	defer func() { _ = w.Stop() }()
	quiet := time.NewTimer(quietWarning)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return messages.TaskStatus{}, fmt.Errorf("stopped waiting for task %s: %w", id, ctx.Err())
		case <-quiet.C:
			fmt.Fprintf(p.out, "… task %s is still waiting for a dispatcher: %s\n", id, whyWaiting(ctx, c))
		case e, ok := <-w.Updates():
			if !ok {
				return messages.TaskStatus{}, errors.New("task watch ended")
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			quiet.Stop()
			var st messages.TaskStatus
			if err := messages.Decode(e.Value(), &st); err != nil {
				return st, err
			}
			p.update(st)
			if st.State.Final() {
				return st, nil
			}
		}
	}
}

// whyWaiting asks the dispatchers why a task may not have been taken yet.
func whyWaiting(ctx context.Context, c *conn) string {
	lists, err := listSandboxes(ctx, c)
	if err != nil {
		return err.Error()
	}
	held, capacity := 0, 0
	for _, l := range lists {
		held += len(l.Sandboxes)
		capacity += l.Capacity
	}
	if held >= capacity {
		return fmt.Sprintf("all %d sandbox slots are busy; it starts when one frees ('sfctl watch' shows them)", capacity)
	}
	return fmt.Sprintf("%d of %d sandbox slots are free, yet none took it: look at the dispatchers' logs",
		capacity-held, capacity)
}
