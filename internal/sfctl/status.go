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
	return &cobra.Command{
		Use:     "status ID",
		Short:   "Show a task's state and step log",
		Example: "  sfctl status login-001",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.close()
			kv, err := c.tasks(cmd.Context())
			if err != nil {
				return err
			}
			st, ok, err := getStatus(cmd.Context(), kv, args[0])
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("no task %q (ids are case-sensitive; was it submitted to this server?)", args[0])
			}
			newPrinter(g.out).full(st)
			return nil
		},
	}
}

// quietWarning is how long follow waits for a first state before it says
// that no dispatcher seems to be taking tasks.
const quietWarning = 10 * time.Second

// follow watches a task's state until it is final, printing each new step.
func follow(ctx context.Context, kv jetstream.KeyValue, id string, p *printer) (messages.TaskStatus, error) {
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
			fmt.Fprintf(p.out, "… task %s is still waiting for a dispatcher (is one running with free sandboxes?)\n", id)
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
