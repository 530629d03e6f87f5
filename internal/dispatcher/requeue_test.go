package dispatcher_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/screenfleet/screenfleet/internal/sandbox"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// failFirstStart is a runtime whose first sandbox fails to start.
type failFirstStart struct {
	*fakeRuntime
	failed atomic.Bool
}

func (f *failFirstStart) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if !f.failed.Swap(true) {
		return nil, errors.New("no display free")
	}
	return f.fakeRuntime.Start(ctx, spec)
}

// A sandbox that cannot start leaves the task queued for its next attempt,
// not queued for ever.
func TestSandboxStartFailureRetriesTheTask(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(nil)
	cfg.Runtime = &failFirstStart{fakeRuntime: newFakeRuntime(t, e.url, always(agentOK))}
	d := e.start(cfg)
	e.submit(taskJSON("start-fail", 1, ""), "start-fail")
	st := e.waitState("start-fail", messages.StateSucceeded, 10*time.Second)
	if st.Attempt != 2 {
		t.Errorf("succeeded on attempt %d, want 2", st.Attempt)
	}
	wantAll(t, "http://"+d.HTTPAddr()+"/metrics", `sf_dispatcher_sandboxes_total{runtime="unknown",state="start_failed"} 1`)
}
