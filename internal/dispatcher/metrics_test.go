package dispatcher_test

import (
	"strings"
	"testing"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// listSandboxes asks the dispatchers for their sandboxes and returns the
// first answer.
func (e *env) listSandboxes() messages.SandboxList {
	e.t.Helper()
	msg, err := e.nc.Request(e.subj.SandboxList(), nil, 2*time.Second)
	if err != nil {
		e.t.Fatalf("sandbox list: %v", err)
	}
	var l messages.SandboxList
	if err := messages.Decode(msg.Data, &l); err != nil {
		e.t.Fatal(err)
	}
	return l
}

func TestSandboxListAndGaugesFollowTheSandbox(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentHang))
	d := e.start(e.config(rt))
	metricsURL := "http://" + d.HTTPAddr() + "/metrics"

	e.submit(taskJSON("list-1", 2, ""), "list-1")
	e.waitState("list-1", messages.StateRunning, 10*time.Second)
	var l messages.SandboxList
	waitFor(t, "sandbox listed as running", 5*time.Second, func() bool {
		l = e.listSandboxes()
		return len(l.Sandboxes) == 1 && l.Sandboxes[0].State == messages.SandboxRunning
	})
	sb := l.Sandboxes[0]
	if l.Dispatcher != d.ID() || l.Capacity != 2 || sb.Task != "list-1" || sb.Attempt != 1 ||
		!strings.HasPrefix(sb.ID, "sb-") || sb.Started.IsZero() {
		t.Fatalf("listing %+v", l)
	}
	_, body := httpGet(t, metricsURL)
	for _, want := range []string{`sf_dispatcher_sandboxes{runtime="unknown",state="running"} 1`,
		`sf_dispatcher_sandbox_capacity{runtime="unknown"} 2`, `sf_tasks_pending 0`, `sf_tasks_in_flight 1`,
		`sf_dispatcher_sandboxes_total{runtime="unknown",state="started"} 1`,
		`sf_step_seconds_count{action="type",outcome="ok"} 1`, `sf_step_stage_seconds_count{stage="capture"} 1`,
		`sf_step_stage_seconds_count{stage="publish_to_reply"} 1`, `sf_step_stage_seconds_count{stage="other"} 1`,
		`sf_step_stage_seconds_count{stage="settle"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	if _, err := e.store.Transition(ctxFor(t, 5*time.Second), "list-1", messages.StateCancelled,
		func(st *messages.TaskStatus) error { st.Code = messages.CodeCancelled; return nil }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "sandbox gone from the listing", 10*time.Second, func() bool {
		return len(e.listSandboxes().Sandboxes) == 0
	})
	_, body = httpGet(t, metricsURL)
	for _, want := range []string{`sf_dispatcher_sandboxes{runtime="unknown",state="running"} 0`,
		`sf_tasks_finished_total{reason="cancelled",state="cancelled"} 1`,
		`sf_dispatcher_sandboxes_total{runtime="unknown",state="stopped"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("after cancel, metrics lack %q", want)
		}
	}
	if strings.Contains(body, sb.ID) || strings.Contains(body, "list-1") {
		t.Errorf("metrics name a sandbox or task id:\n%s", body)
	}
}
