package dispatcher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/dispatcher"
	"github.com/screenfleet/screenfleet/internal/natsembed"
	"github.com/screenfleet/screenfleet/internal/taskstore"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// env is one embedded NATS server with JetStream, and a client on it.
type env struct {
	t     *testing.T
	url   string
	nc    *nats.Conn
	js    jetstream.JetStream
	store *taskstore.Store
	subj  messages.Subjects
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{DataDir: t.TempDir()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := taskstore.Open(ctxFor(t, 10*time.Second), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, url: srv.ClientURL(), nc: nc, js: js, store: store, subj: messages.NewSubjects("")}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// logWriter sends a dispatcher's log lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (e *env) config(rt *fakeRuntime) dispatcher.Config {
	return dispatcher.Config{
		NATSURL:       e.url,
		MaxSandboxes:  2,
		MaxAttempts:   3,
		AssignTimeout: 3 * time.Second,
		PullWait:      500 * time.Millisecond,
		HTTPAddr:      "127.0.0.1:0",
		Runtime:       rt,
	}
}

// start starts a dispatcher and stops it at the end of the test.
func (e *env) start(cfg dispatcher.Config) *dispatcher.Dispatcher {
	e.t.Helper()
	d, err := dispatcher.New(cfg, zerolog.New(logWriter{e.t}).Level(zerolog.DebugLevel))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = d.Stop(context.Background()) })
	return d
}

func taskJSON(id string, steps int, deadline string) []byte {
	t := map[string]any{
		"id":  id,
		"app": map[string]any{"command": []string{"true"}, "width": 320, "height": 200},
	}
	if deadline != "" {
		t["deadline"] = deadline
	}
	var ss []map[string]any
	for i := range steps {
		ss = append(ss, map[string]any{"action": "type", "text": fmt.Sprintf("word %d", i)})
	}
	t["steps"] = ss
	b, _ := json.Marshal(t)
	return b
}

func (e *env) submit(body []byte, msgID string) *jetstream.PubAck {
	e.t.Helper()
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	ack, err := e.js.Publish(ctxFor(e.t, 5*time.Second), e.subj.TaskSubmit(), body, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return ack
}

// watch records every state the task goes through, from before it exists.
func (e *env) watch(id string) func() []messages.TaskStatus {
	e.t.Helper()
	ch, err := e.store.Watch(ctxFor(e.t, time.Minute), id)
	if err != nil {
		e.t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []messages.TaskStatus
	go func() {
		for st := range ch {
			mu.Lock()
			seen = append(seen, st)
			mu.Unlock()
		}
	}()
	return func() []messages.TaskStatus {
		mu.Lock()
		defer mu.Unlock()
		return append([]messages.TaskStatus(nil), seen...)
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) waitState(id string, want messages.State, d time.Duration) messages.TaskStatus {
	e.t.Helper()
	var st messages.TaskStatus
	waitFor(e.t, fmt.Sprintf("task %s to be %s", id, want), d, func() bool {
		var err error
		st, _, err = e.store.Get(context.Background(), id)
		return err == nil && st.State == want
	})
	return st
}

// waitSettled waits until the consumer holds no task: all acked or terminated.
func (e *env) waitSettled(d time.Duration) {
	e.t.Helper()
	waitFor(e.t, "the task consumer to be empty", d, func() bool {
		c, err := e.js.Consumer(context.Background(), messages.TasksStream, messages.TasksConsumer)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
}

// distinct drops consecutive repeats (step appends rewrite the same state).
func distinct(sts []messages.TaskStatus) string {
	var out []string
	for _, st := range sts {
		s := fmt.Sprintf("%s/%d", st.State, st.Attempt)
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
