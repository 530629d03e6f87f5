package dispatcher_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/natsembed"
	"github.com/screenfleet/screenfleet/internal/taskstore"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// C17(b): the server restarts and has lost the task stream and its consumer
// (a memory-storage stream does), while the task bucket survives on disk.
// The dispatcher recreates both, and a task submitted afterwards runs.
func TestStreamLostInServerRestartIsRecreated(t *testing.T) {
	dir := t.TempDir()
	srv, err := natsembed.Start(natsembed.Config{DataDir: dir, NoLog: true}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown() })
	u, err := url.Parse(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	e := envOn(t, srv.ClientURL())
	e.start(e.config(newFakeRuntime(t, e.url, always(agentOK))))
	e.submit(taskJSON("before-restart", 1, ""), "before-restart")
	e.waitState("before-restart", messages.StateSucceeded, 10*time.Second)

	srv.Shutdown()
	if err := os.RemoveAll(filepath.Join(dir, "jetstream", "$G", "streams", messages.TasksStream)); err != nil {
		t.Fatal(err)
	}
	srv, err = natsembed.Start(natsembed.Config{DataDir: dir, Port: port, NoLog: true}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown() })

	waitFor(t, "the stream and consumer to be recreated", 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := e.js.Consumer(ctx, messages.TasksStream, messages.TasksConsumer)
		return err == nil
	})
	e.submit(taskJSON("after-restart", 1, ""), "after-restart")
	e.waitState("after-restart", messages.StateSucceeded, 10*time.Second)
}

// envOn is newEnv on a server the test runs itself.
func envOn(t *testing.T, serverURL string) *env {
	t.Helper()
	nc, err := nats.Connect(serverURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
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
	return &env{t: t, url: serverURL, nc: nc, js: js, store: store, subj: messages.NewSubjects("")}
}

// C17(c): MaxAckPending 2 on the durable, and two tasks nak'd with a
// one-minute delay hold both ack-pending places. A third task must still
// run: the dispatcher reconciles MaxAckPending at start.
func TestDelayedNaksDoNotBlockTheNextTask(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, 20*time.Second)
	if _, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: messages.TasksStream,
		Subjects: []string{e.subj.TaskSubmit()}, Retention: jetstream.WorkQueuePolicy}); err != nil {
		t.Fatal(err)
	}
	c, err := e.js.CreateConsumer(ctx, messages.TasksStream, jetstream.ConsumerConfig{
		Durable: messages.TasksConsumer, AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 2})
	if err != nil {
		t.Fatal(err)
	}
	nakTwo(t, c, e)
	e.submit(taskJSON("third", 1, ""), "third")
	e.start(e.config(newFakeRuntime(t, e.url, always(agentOK))))
	e.waitState("third", messages.StateSucceeded, 30*time.Second)
}

// nakTwo submits two tasks, takes them from c and naks them with a
// one-minute delay.
func nakTwo(t *testing.T, c jetstream.Consumer, e *env) {
	t.Helper()
	e.submit(taskJSON("nak-1", 1, ""), "nak-1")
	e.submit(taskJSON("nak-2", 1, ""), "nak-2")
	batch, err := c.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for msg := range batch.Messages() {
		if err := msg.NakWithDelay(time.Minute); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("took %d tasks, want 2 (%v)", n, batch.Error())
	}
}

// C17(c), while the dispatcher runs: two tasks hold their ack-pending
// places (their agents hang), and the durable's MaxAckPending drifts to 2,
// so a third task waits while a slot is free and nothing is delivered. The
// watchdog marks the consumer stalled (sf_dispatcher_consumer_stalled, the
// alert's series) within 30 s and reconciles it, and the third task runs.
func TestStalledConsumerIsDetectedAndReconciled(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(newFakeRuntime(t, e.url, always(agentHang)))
	cfg.MaxSandboxes = 3
	d := e.start(cfg)
	for _, id := range []string{"held-1", "held-2"} {
		e.submit(taskJSON(id, 1, ""), id)
		e.waitState(id, messages.StateRunning, 10*time.Second)
	}
	ctx := ctxFor(t, 60*time.Second)
	c, err := e.js.Consumer(ctx, messages.TasksStream, messages.TasksConsumer)
	if err != nil {
		t.Fatal(err)
	}
	drifted := c.CachedInfo().Config
	drifted.MaxAckPending = 2
	if _, err := e.js.UpdateConsumer(ctx, messages.TasksStream, drifted); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	e.submit(taskJSON("third", 1, ""), "third")
	metrics := "http://" + d.HTTPAddr() + "/metrics"
	waitFor(t, "the stall to be detected", 30*time.Second, func() bool {
		_, body := httpGet(t, metrics)
		return containsLine(body, "sf_dispatcher_consumer_stalls_total 1")
	})
	t.Logf("stall detected %s after the third task was submitted", time.Since(began))
	e.waitState("third", messages.StateRunning, 10*time.Second)
	wantAll(t, metrics, "sf_dispatcher_consumer_stalled 0")
}

// containsLine reports whether body has line as one of its lines.
func containsLine(body, line string) bool {
	for _, l := range strings.Split(body, "\n") {
		if l == line {
			return true
		}
	}
	return false
}
