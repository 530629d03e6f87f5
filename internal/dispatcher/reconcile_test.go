package dispatcher_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/screenfleet/screenfleet/internal/dispatcher"
	"github.com/screenfleet/screenfleet/internal/sandbox"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// fakeReaper lists fixed leftovers and records what is removed.
type fakeReaper struct {
	mu        sync.Mutex
	leftovers []sandbox.Leftover
	removed   []string
}

func (r *fakeReaper) Leftovers(context.Context) ([]sandbox.Leftover, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sandbox.Leftover
	for _, l := range r.leftovers {
		if !slices.Contains(r.removed, l.Container) {
			out = append(out, l)
		}
	}
	return out, nil
}

func (r *fakeReaper) Remove(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removed = append(r.removed, id)
	return nil
}

func (r *fakeReaper) removedSorted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.removed)
	slices.Sort(out)
	return out
}

func TestReconcileRemovesOnlyWhatNoLiveTaskOwns(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, 30*time.Second)
	states := map[string]messages.TaskStatus{
		"t-running": {State: messages.StateRunning, Sandbox: "sb-live", Dispatcher: "other"},
		"t-moved":   {State: messages.StateQueued, Attempt: 2},
		"t-done":    {State: messages.StateSucceeded, Sandbox: "sb-done"},
	}
	for id, st := range states {
		st.ID = id
		if _, err := e.store.Create(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	old, young := time.Now().Add(-time.Hour), time.Now()
	r := &fakeReaper{leftovers: []sandbox.Leftover{
		{Container: "c-mine", Sandbox: "sb-mine", Task: "t-running", Dispatcher: "d-me", Created: young},
		{Container: "c-young", Sandbox: "sb-young", Task: "t-unknown", Dispatcher: "other", Created: young},
		{Container: "c-live", Sandbox: "sb-live", Task: "t-running", Dispatcher: "other", Created: old},
		{Container: "c-moved", Sandbox: "sb-moved", Task: "t-moved", Dispatcher: "other", Created: old},
		{Container: "c-done", Sandbox: "sb-done", Task: "t-done", Dispatcher: "other", Created: old},
		{Container: "c-unknown", Sandbox: "sb-x", Task: "t-unknown", Dispatcher: "other", Created: old},
		{Container: "c-unlabelled", Sandbox: "sb-y", Created: old},
		{Container: "c-warm-gone", Sandbox: "sb-w1", Dispatcher: "gone", Created: old},
		{Container: "c-warm-live", Sandbox: "sb-w2", Dispatcher: "d-other", Created: old},
	}}
	cfg := e.config(newFakeRuntime(t, e.url, always(agentOK)))
	cfg.ID = "d-me"
	d := e.start(cfg)
	other := e.config(newFakeRuntime(t, e.url, always(agentOK)))
	other.ID = "d-other" // alive: answers the sandbox list, so its warm sandbox stays
	e.start(other)

	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Reconcile(rctx, dispatcher.ReconcileConfig{Reaper: r, Grace: time.Minute, Every: 50 * time.Millisecond})
	}()
	want := []string{"c-done", "c-mine", "c-moved", "c-unknown", "c-unlabelled", "c-warm-gone"}
	// c-warm-gone goes after three passes without an answer from its
	// dispatcher, by which time c-warm-live's has answered three times.
	waitFor(t, "leftovers removed", 30*time.Second, func() bool { return len(r.removedSorted()) >= len(want) })
	time.Sleep(1500 * time.Millisecond) // one more pass: nothing else may go
	stop()
	<-done
	if got := r.removedSorted(); !slices.Equal(got, want) {
		t.Errorf("removed %v, want %v", got, want)
	}
}
