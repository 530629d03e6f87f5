package dockertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// startDispatcher runs the dispatcher binary on the docker runtime and
// stops it when the test ends (unless the test killed it). Its id is name
// made unique to this run, since the reconciler removes every container of
// its own id that it does not hold: two runs of the tests on one engine
// must not share ids.
func startDispatcher(t *testing.T, name string, maxSandboxes int, extra ...string) *proc {
	t.Helper()
	e := shared
	id := dispatcherID(name)
	args := append([]string{"--runtime", "docker", "--id", id,
		"--nats-url", e.natsURL, "--sandbox-nats-url", e.sandboxURL,
		"--network", e.network, "--image", image,
		"--max-sandboxes", strconv.Itoa(maxSandboxes), "--http-addr", "",
		"--orphan-grace", "5s", "--reconcile-every", "2s", "--log-format", "json"}, extra...)
	p, err := e.daemon("dispatcher", args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("dispatcher %s log:\n%s", id, p.logTail(12000))
		}
	})
	return p
}

// dispatcherID makes name unique to this run of the tests.
func dispatcherID(name string) string { return name + "-" + strconv.Itoa(os.Getpid()) }

// task is a short task on the example buttons page: Firefox starts, the
// page is read, one click, one check.
func task(id string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id":       id,
		"deadline": "3m",
		"app": map[string]any{"command": []string{"firefox-esr", "--kiosk", shared.siteURL + "/buttons.html"},
			"width": 1280, "height": 800},
		"steps": []map[string]any{
			{"action": "wait_for", "target": map[string]any{"text": "Green"}, "timeout": "90s"},
			{"action": "click", "target": map[string]any{"text": "Green"}},
			{"action": "assert", "target": map[string]any{"text": "You picked Green", "match": "contains"},
				"timeout": "20s"},
		},
	})
	return b
}

func submit(t *testing.T, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := shared.js.Publish(ctx, messages.NewSubjects("").TaskSubmit(), task(id), jetstream.WithMsgID(id))
	if err != nil {
		t.Fatalf("publish %s: %v", id, err)
	}
}

// taskID makes an id no earlier run of the tests used.
func taskID(name string) string {
	return fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1e9)
}

// status reads a task's state; ok is false while it has none.
func status(ctx context.Context, id string) (messages.TaskStatus, bool) {
	var st messages.TaskStatus
	kv, err := shared.js.KeyValue(ctx, messages.TasksBucket)
	if err != nil {
		return st, false
	}
	entry, err := kv.Get(ctx, id)
	if err != nil || messages.Decode(entry.Value(), &st) != nil {
		return st, false
	}
	return st, true
}

// waitState polls the task's state until cond holds.
func waitState(t *testing.T, id string, limit time.Duration,
	cond func(messages.TaskStatus) bool) messages.TaskStatus {
	t.Helper()
	var last messages.TaskStatus
	waitFor(t, "task "+id, limit, func(ctx context.Context) bool {
		st, ok := status(ctx, id)
		last = st
		return ok && cond(st)
	})
	return last
}

func final(st messages.TaskStatus) bool { return st.State.Final() }

func requireSucceeded(t *testing.T, st messages.TaskStatus) {
	t.Helper()
	if st.State != messages.StateSucceeded {
		t.Fatalf("task %s %s (attempt %d): %s\nseen: %q\nsteps: %+v", st.ID, st.State, st.Attempt,
			st.Error, st.Seen, st.Steps)
	}
}

// waitFor polls cond until it holds, and fails the test after limit.
func waitFor(t *testing.T, what string, limit time.Duration, cond func(ctx context.Context) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		ok := cond(cctx)
		ccancel()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: condition not met after %s", what, limit)
		case <-time.After(200 * time.Millisecond): // polling interval, not synchronisation
		}
	}
}

// history records every state a task goes through.
type history struct {
	mu  sync.Mutex
	sts []messages.TaskStatus
}

// watchTask starts recording the task's states until the test ends.
func watchTask(t *testing.T, id string) *history {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var kv jetstream.KeyValue
	waitFor(t, "task bucket", time.Minute, func(ctx context.Context) bool { // the dispatcher makes it
		var err error
		kv, err = shared.js.KeyValue(ctx, messages.TasksBucket)
		return err == nil
	})
	w, err := kv.Watch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	h := &history{}
	go func() {
		for entry := range w.Updates() {
			var st messages.TaskStatus
			if entry != nil && messages.Decode(entry.Value(), &st) == nil {
				h.mu.Lock()
				h.sts = append(h.sts, st)
				h.mu.Unlock()
			}
		}
	}()
	return h
}

// errors returns the errors recorded along the way (retries' reasons).
func (h *history) errors() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, st := range h.sts {
		if st.Error != "" && (len(out) == 0 || out[len(out)-1] != st.Error) {
			out = append(out, st.Error)
		}
	}
	return out
}
