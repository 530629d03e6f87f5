package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	wantAll(t, "http://"+d.HTTPAddr()+"/metrics",
		`sf_dispatcher_sandboxes_total{runtime="unknown",state="start_failed"} 1`)
}

// profileRuntime knows only the default profile, like the process runtime.
type profileRuntime struct{ *fakeRuntime }

func (p profileRuntime) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if spec.Profile != "" {
		return nil, fmt.Errorf("%w %q", sandbox.ErrUnknownProfile, spec.Profile)
	}
	return p.fakeRuntime.Start(ctx, spec)
}

// A task that asks for a profile the runtime lacks fails at once, with the
// reason, and is not retried: another attempt could not do better.
func TestUnknownProfileFailsWithoutRetry(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(nil)
	rt := newFakeRuntime(t, e.url, always(agentOK))
	cfg.Runtime = profileRuntime{rt}
	e.start(cfg)
	body := []byte(`{"id":"prof-1","app":{"command":["true"],"profile":"chromium"},"steps":[{"action":"key","keys":"a"}]}`)
	e.submit(body, "prof-1")
	st := e.waitState("prof-1", messages.StateFailed, 10*time.Second)
	if st.Code != messages.CodeInvalidTask || !strings.Contains(st.Error,
		`unknown sandbox profile "chromium"`) {
		t.Fatalf("failed with code %d: %s", st.Code, st.Error)
	}
	if st.Attempt != 1 || rt.starts() != 0 {
		t.Fatalf("attempt %d, %d sandboxes started: the task was retried", st.Attempt, rt.starts())
	}
}
