package sfctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/internal/natsconn"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// conn is a connection with the JetStream handles the commands use.
type conn struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	sub messages.Subjects
}

func (g *globals) connect() (*conn, error) {
	tlsOpts, err := g.tls.Options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(g.natsURL, append([]nats.Option{nats.Name("sfctl"), nats.Timeout(5 * time.Second)},
		tlsOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("cannot reach NATS at %s: %w (is 'sfctl dev' or a NATS server running? "+
			"set --nats-url or SF_NATS_URL)", natsconn.Redact(g.natsURL), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &conn{nc: nc, js: js, sub: messages.NewSubjects(g.prefix)}, nil
}

func (c *conn) close() { c.nc.Close() }

// connectTasks connects and opens the task state bucket; close the
// connection when done.
func (g *globals) connectTasks(ctx context.Context) (*conn, jetstream.KeyValue, error) {
	c, err := g.connect()
	if err != nil {
		return nil, nil, err
	}
	kv, err := c.tasks(ctx)
	if err != nil {
		c.close()
		return nil, nil, err
	}
	return c, kv, nil
}

// tasks opens the task state bucket, explaining what to do when it is missing.
func (c *conn) tasks(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := c.js.KeyValue(ctx, messages.TasksBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("no task state bucket %q: no dispatcher has run against this server yet (start one, e.g. 'sfctl dev')", messages.TasksBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("task state bucket: %w", err)
	}
	return kv, nil
}

// status reads one task's state; ok is false when the task is unknown.
func getStatus(ctx context.Context, kv jetstream.KeyValue, id string) (messages.TaskStatus, bool, error) {
	var st messages.TaskStatus
	e, err := kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("read task %s: %w", id, err)
	}
	if err := messages.Decode(e.Value(), &st); err != nil {
		return st, false, err
	}
	return st, true, nil
}
