package sfctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

type submitOpts struct {
	wait    bool
	id      string
	timeout time.Duration
}

func newSubmitCmd(g *globals) *cobra.Command {
	var o submitOpts
	cmd := &cobra.Command{
		Use:   "submit TASK.json [TASK.json...]",
		Short: "Submit tasks to the TASKS stream",
		Long: `Submit validates each task file, publishes it to JetStream with its id as the
deduplication key, and with --wait follows it step by step until it ends.
A task without an id gets a fresh one. Resubmitting an id that already ran
does not run it again: pass --id to run the same file under a new id.`,
		Example: `  sfctl submit examples/tasks/login.json --wait
  sfctl submit --id login-again examples/tasks/login.json --wait
  SF_NATS_URL=nats://10.0.0.5:4222 sfctl submit task.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSubmit(cmd.Context(), g, cmd.ErrOrStderr(), o, args)
		},
	}
	cmd.Flags().BoolVarP(&o.wait, "wait", "w", false, "follow the task until it ends; exit 1 if it failed")
	cmd.Flags().StringVar(&o.id, "id", "", "task id to use instead of the file's (one file only)")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up waiting after this long")
	return cmd
}

// runSubmit reads every file before publishing any, so that one bad file
// submits nothing. Warnings about the files go to warn.
func runSubmit(ctx context.Context, g *globals, warn io.Writer, o submitOpts, files []string) error {
	if o.id != "" && len(files) > 1 {
		return fmt.Errorf("--id names one task, but %d files were given", len(files))
	}
	tasks := make([]messages.Task, len(files))
	for i, f := range files {
		t, err := readTask(f, warn)
		if err != nil {
			return withExit(2, err)
		}
		if o.id != "" {
			t.ID = o.id
		}
		if _, err := encodeTask(t); err != nil {
			return withExit(2, fmt.Errorf("%s: %w", f, err))
		}
		tasks[i] = t
	}
	c, err := g.connect()
	if err != nil {
		return err
	}
	defer c.close()
	failed := 0
	for _, t := range tasks {
		ok, err := submitOne(ctx, g, c, t, o)
		if err != nil {
			return err
		}
		if !ok {
			failed++
		}
	}
	if failed > 0 {
		return withExit(1, fmt.Errorf("%d of %d tasks did not succeed", failed, len(tasks)))
	}
	return nil
}

// readTask reads and validates a task file, giving it an id when it has none.
// It warns on warn about each field it ignores: the dispatcher ignores them
// too (DESIGN.md: unknown fields are ignored, for tasks written for newer
// versions), but most are misspellings whose intent would be lost silently.
func readTask(path string, warn io.Writer) (messages.Task, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return messages.Task{}, err
	}
	t, unknown, err := messages.DecodeTaskUnknown(b)
	if err != nil {
		return t, fmt.Errorf("%s: %w", path, err)
	}
	for _, u := range unknown {
		hint := "ignored"
		if u.Suggest != "" {
			hint += fmt.Sprintf("; did you mean %q?", u.Suggest)
		}
		fmt.Fprintf(warn, "warning: %s: %s (%s)\n", path, u, hint)
	}
	if t.ID == "" {
		t.ID = "t-" + uuid.NewString()[:13]
	}
	return t, nil
}

// submitOne publishes t and, with --wait, follows it. ok reports success (or
// that nobody waited).
func submitOne(ctx context.Context, g *globals, c *conn, t messages.Task, o submitOpts) (bool, error) {
	dup, err := publishTask(ctx, c, t)
	if err != nil {
		return false, err
	}
	if dup {
		fmt.Fprintf(g.out, "%s was already submitted: not running it twice (use --id to run it again)\n", t.ID)
	} else {
		fmt.Fprintf(g.out, "submitted %s (%d step%s)\n", t.ID, len(t.Steps), plural(len(t.Steps)))
	}
	if !o.wait {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	kv, err := c.tasks(ctx)
	if err != nil {
		return false, err
	}
	st, err := follow(ctx, c, kv, t.ID, newPrinter(g.out))
	if err != nil {
		return false, err
	}
	return st.State == messages.StateSucceeded, nil
}

// publishTask publishes t with its id as the deduplication key. dup reports
// that the stream had already seen the id within its deduplication window.
func publishTask(ctx context.Context, c *conn, t messages.Task) (dup bool, err error) {
	payload, err := encodeTask(t)
	if err != nil {
		return false, err
	}
	ack, err := c.js.Publish(ctx, c.sub.TaskSubmit(), payload, jetstream.WithMsgID(t.ID))
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) {
		return false, fmt.Errorf("no stream captures %s: is a dispatcher running? (start one with 'sfctl dev')", c.sub.TaskSubmit())
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		// nats.go words this "nats: nats: API error: code=400 err_code=10054 ...".
		return false, fmt.Errorf("publish task %s: the stream refused it: %s (error %d)", t.ID,
			apiErr.Description, apiErr.ErrorCode)
	}
	if err != nil {
		return false, fmt.Errorf("publish task %s: %w", t.ID, err)
	}
	return ack.Duplicate, nil
}

// msgIDHeaderBytes is what the deduplication header adds to a task message
// besides the id itself ("NATS/1.0\r\nNats-Msg-Id: ID\r\n\r\n"); the
// stream's size limit counts headers too.
const msgIDHeaderBytes = len("NATS/1.0\r\nNats-Msg-Id: \r\n\r\n")

// encodeTask encodes t for the TASKS stream, refusing a task the stream
// would refuse for its size, with a message that says what to do instead.
func encodeTask(t messages.Task) ([]byte, error) {
	payload, err := messages.Encode(t)
	if err != nil {
		return nil, err
	}
	if size := len(payload) + msgIDHeaderBytes + len(t.ID); size > messages.MaxTaskBytes {
		have, limit := sizeText(size), sizeText(messages.MaxTaskBytes)
		if strings.HasSuffix(have, "bytes") {
			limit += fmt.Sprintf(" (%d bytes)", messages.MaxTaskBytes)
		}
		return nil, fmt.Errorf("task %s is %s; a task may be at most %s "+
			"(large inputs belong in files the app opens, not in the task)", t.ID, have, limit)
	}
	return payload, nil
}

// sizeText writes a byte count as the dispatcher does ("2.0 MB", "1 MiB"),
// or exactly when a rounded figure would not show that it is over the
// limit.
func sizeText(n int) string {
	switch {
	case n == 1<<20:
		return "1 MiB"
	case n >= 1_100_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%d bytes", n)
}
