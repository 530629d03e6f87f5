package dispatcher_test

import (
	"fmt"
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
	wantAll(t, metricsURL, `sf_dispatcher_sandboxes{runtime="unknown",state="running"} 1`,
		`sf_dispatcher_sandbox_capacity{runtime="unknown"} 2`, `sf_tasks_pending 0`, `sf_tasks_in_flight 1`,
		`sf_dispatcher_sandboxes_total{runtime="unknown",state="started"} 1`,
		`sf_step_seconds_count{action="type",outcome="ok"} 1`, `sf_step_stage_seconds_count{stage="capture"} 1`,
		`sf_step_stage_seconds_count{stage="publish_to_reply"} 1`, `sf_step_stage_seconds_count{stage="other"} 1`,
		`sf_step_stage_seconds_count{stage="settle"} 0`)

	if _, err := e.store.Transition(ctxFor(t, 5*time.Second), "list-1", messages.StateCancelled,
		func(st *messages.TaskStatus) error { st.Code = messages.CodeCancelled; return nil }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "sandbox gone from the listing", 10*time.Second, func() bool {
		return len(e.listSandboxes().Sandboxes) == 0
	})
	body := wantAll(t, metricsURL, `sf_dispatcher_sandboxes{runtime="unknown",state="running"} 0`,
		`sf_tasks_finished_total{reason="cancelled",state="cancelled"} 1`,
		`sf_dispatcher_sandboxes_total{runtime="unknown",state="stopped"} 1`)
	if strings.Contains(body, sb.ID) || strings.Contains(body, "list-1") {
		t.Errorf("metrics name a sandbox or task id:\n%s", body)
	}
}

// seriesCount counts the samples of a /metrics page.
func seriesCount(body string) int {
	n := 0
	for _, line := range strings.Split(body, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			n++
		}
	}
	return n
}

// TestSeriesStayBounded is field case C24 at the dispatcher: tasks with
// unique ids in unique sandboxes add no series, and none names an id.
func TestSeriesStayBounded(t *testing.T) {
	e := newEnv(t)
	d := e.start(e.config(newFakeRuntime(t, e.url, always(agentOK))))
	metricsURL := "http://" + d.HTTPAddr() + "/metrics"
	run := func(from, to int) string {
		for i := from; i < to; i++ {
			id := fmt.Sprintf("card-%d", i)
			e.submit(taskJSON(id, 2, ""), id)
		}
		for i := from; i < to; i++ {
			e.waitState(fmt.Sprintf("card-%d", i), messages.StateSucceeded, 20*time.Second)
		}
		e.waitSettled(5 * time.Second)
		_, body := httpGet(t, metricsURL)
		return body
	}
	first := run(0, 5)
	second := run(5, 25)
	// Go runtime series (GC pauses, goroutines) do not change in number.
	if a, b := seriesCount(first), seriesCount(second); a != b {
		t.Errorf("series grew from %d to %d with 20 more tasks", a, b)
	}
	if strings.Contains(second, "card-") || strings.Contains(second, `"sb-`) {
		t.Error("a series names a task or a sandbox")
	}
	// Scrape time is logged, not asserted: on a loaded 2-core machine it
	// swings far more than the series count does, and the count is what
	// keeps it small.
	start := time.Now()
	httpGet(t, metricsURL)
	t.Logf("a scrape of %d series took %s", seriesCount(second), time.Since(start))
}

func TestQueueDepthCountsWaitingTasks(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(newFakeRuntime(t, e.url, always(agentHang)))
	cfg.MaxSandboxes = 1
	d := e.start(cfg)
	for _, id := range []string{"q-1", "q-2", "q-3"} {
		e.submit(taskJSON(id, 1, ""), id)
	}
	wantAll(t, "http://"+d.HTTPAddr()+"/metrics", `sf_tasks_pending 2`, `sf_tasks_in_flight 1`,
		`sf_dispatcher_sandboxes{runtime="unknown",state="running"} 1`, `sf_dispatcher_sandbox_capacity{runtime="unknown"} 1`)
}

// wantAll waits until a scrape of url holds every series in want, and
// returns the last scrape.
func wantAll(t *testing.T, url string, want ...string) string {
	t.Helper()
	var body string
	missing := want
	for deadline := time.Now().Add(10 * time.Second); len(missing) > 0 && time.Now().Before(deadline); {
		_, body = httpGet(t, url)
		missing = nil
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) > 0 {
			time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
		}
	}
	for _, w := range missing {
		t.Errorf("metrics lack %s", w)
	}
	return body
}
