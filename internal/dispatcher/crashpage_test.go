package dispatcher_test

import (
	"strings"
	"testing"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// C21: an agent that finds its app on Firefox's tab crash page reports a
// sandbox failure; the task is retried in a new sandbox, not failed, and
// succeeds there.
func TestCrashPageRecyclesTheSandbox(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, func(attempt int) behaviour {
		if attempt == 1 {
			return agentCrashed
		}
		return agentOK
	})
	e.start(e.config(rt))

	e.submit(taskJSON("crash-1", 2, ""), "crash-1")
	st := e.waitState("crash-1", messages.StateSucceeded, 20*time.Second)
	if st.Attempt != 2 || st.Error != "" {
		t.Errorf("final state: attempt %d, error %q; want attempt 2, no error", st.Attempt, st.Error)
	}
	if rt.starts() != 2 {
		t.Errorf("%d sandboxes started, want 2", rt.starts())
	}
	waitFor(t, "the crashed sandbox's teardown", 20*time.Second, func() bool { return rt.live() == 0 })
}

// C21: a crash page in every sandbox fails the task once attempts run out,
// saying why.
func TestCrashPageEverywhereFailsAfterAttempts(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentCrashed))
	e.start(e.config(rt))

	e.submit(taskJSON("crash-2", 2, ""), "crash-2")
	st := e.waitState("crash-2", messages.StateFailed, 20*time.Second)
	if st.Code != messages.CodeSandboxFailed || !strings.Contains(st.Error, "tab crash page") ||
		!strings.Contains(st.Error, "(attempt 3 of 3)") {
		t.Errorf("failed with %d %q", st.Code, st.Error)
	}
	if rt.starts() != 3 {
		t.Errorf("%d sandboxes started, want 3", rt.starts())
	}
}
