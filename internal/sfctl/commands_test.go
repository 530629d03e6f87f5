package sfctl

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

func TestListingsBeforeAnyDispatcher(t *testing.T) {
	e := newFleetEnv(t)
	var got strings.Builder
	for _, args := range [][]string{{"tasks"}, {"status", "x"}, {"sandboxes"}, {"workers"}, {"cancel", "x"}} {
		got.WriteString("$ sfctl " + strings.Join(args, " ") + "\n" + e.run(args...) + "\n")
	}
	golden(t, "no_dispatcher", got.String())
}

func TestTasksAndStatus(t *testing.T) {
	e := newFleetEnv(t)
	e.openBucket()
	var got strings.Builder
	got.WriteString("$ sfctl tasks\n" + e.run("tasks") + "\n")
	for _, st := range sampleTasks() {
		e.put(st)
	}
	for _, args := range [][]string{
		{"tasks"}, {"tasks", "--state", "failed"}, {"tasks", "--limit", "2"}, {"tasks", "--state", "lost"},
		{"status", "login-001"}, {"status", "broken-7"}, {"status", "search-3"}, {"status", "Login-001"},
		{"tasks", "-o", "yaml"},
	} {
		got.WriteString("$ sfctl " + strings.Join(args, " ") + "\n" + e.run(args...) + "\n")
	}
	golden(t, "tasks", got.String())
	golden(t, "tasks_json", e.run("tasks", "-o", "json", "--limit", "2"))
	golden(t, "status_json", e.run("status", "broken-7", "-o", "json"))
}

func TestCancel(t *testing.T) {
	e := newFleetEnv(t)
	e.openBucket()
	for _, st := range sampleTasks() {
		e.put(st)
	}
	var got strings.Builder
	for _, args := range [][]string{{"cancel", "search-3", "notes-9"}, {"cancel", "search-3"},
		{"cancel", "login-001"}, {"cancel", "nope"}} {
		got.WriteString("$ sfctl " + strings.Join(args, " ") + "\n" + e.run(args...) + "\n")
	}
	golden(t, "cancel", got.String())
	st, ok, err := getStatus(context.Background(), e.kv, "search-3")
	if err != nil || !ok {
		t.Fatalf("status after cancel: %v %v", ok, err)
	}
	if st.State != messages.StateCancelled || st.Code != messages.CodeCancelled ||
		!strings.HasPrefix(st.Error, "cancelled by ") || st.FinishedAt.IsZero() {
		t.Errorf("cancelled state %+v", st)
	}
}

func TestSandboxesAndWorkers(t *testing.T) {
	e := newFleetEnv(t)
	e.sampleSandboxes()
	id := e.sampleWorker()
	var got strings.Builder
	for _, args := range [][]string{{"sandboxes"}, {"workers"}, {"workers", "--name", "other"}} {
		got.WriteString("$ sfctl " + strings.Join(args, " ") + "\n" + e.run(args...) + "\n")
	}
	golden(t, "fleet", strings.ReplaceAll(got.String(), id, "WORKER_ID"))
	golden(t, "sandboxes_json", e.run("sandboxes", "-o", "json"))
	workers := strings.ReplaceAll(e.run("workers", "-o", "json"), id, "WORKER_ID")
	golden(t, "workers_json", redactStarted(workers))
}

// redactStarted hides the service start times, which are real.
func redactStarted(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.Contains(l, `"started":`) {
			lines[i] = l[:strings.Index(l, `"started":`)] + `"started": "STARTED",`
		}
	}
	return strings.Join(lines, "\n")
}

func TestWatchPrintsChanges(t *testing.T) {
	e := newFleetEnv(t)
	e.openBucket()
	tasks := sampleTasks()
	for _, st := range tasks[:2] {
		e.put(st)
	}
	e.sampleSandboxes()
	e.sampleWorker()

	var out syncBuffer
	g := &globals{natsURL: e.url, prefix: "sf", out: &out, now: func() time.Time { return fixedNow }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runWatch(ctx, g, watchOpts{interval: 100 * time.Millisecond, limit: 5}) }()
	waitOutput(t, &out, "sandbox sb-888bbb starting")
	running := tasks[2]
	e.put(running)
	waitOutput(t, &out, "task search-3 step 1/4")
	running.State, running.FinishedAt = messages.StateSucceeded, fixedNow
	running.Code, running.Error = 0, ""
	e.put(running)
	waitOutput(t, &out, "task search-3 SUCCEEDED")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watch: %v", err)
	}
	golden(t, "watch_plain", out.String())
}

func TestWatchScreenRender(t *testing.T) {
	e := newFleetEnv(t)
	e.sampleSandboxes()
	c := &conn{nc: e.nc, sub: e.sub}
	lists, err := listSandboxes(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]messages.TaskStatus{}
	for _, st := range sampleTasks() {
		all[st.ID] = st
	}
	v := fleetView{at: fixedNow, sandboxes: lists, workersErr: errNoWorkers}
	v.tasks, v.totalTasks, v.activeTasks = pickTasks(all, 1)
	var out bytes.Buffer
	renderView(&out, v)
	golden(t, "watch_screen", out.String())
}

func TestEveryCommandHasHelpAndExamples(t *testing.T) {
	root := NewRoot(&bytes.Buffer{})
	for _, cmd := range root.Commands() {
		if cmd.Hidden || cmd.Name() == "help" || cmd.Name() == "completion" {
			continue
		}
		if cmd.Short == "" || cmd.Long == "" || cmd.Example == "" {
			t.Errorf("sfctl %s lacks Short, Long or Example", cmd.Name())
		}
		if !strings.Contains(cmd.Example, "sfctl "+cmd.Name()) {
			t.Errorf("sfctl %s: examples do not show the command", cmd.Name())
		}
	}
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"completion", "bash"})
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "__start_sfctl") {
		t.Fatalf("bash completion: %v\n%.200s", err, out.String())
	}
}

func TestCompletionOffersTaskIDs(t *testing.T) {
	e := newFleetEnv(t)
	e.openBucket()
	for _, st := range sampleTasks() {
		e.put(st)
	}
	complete := func(args ...string) string {
		return "$ sfctl __complete " + strings.Join(args, " ") + "\n" +
			e.runRaw(append([]string{cobra.ShellCompRequestCmd, "--nats-url", e.url}, args...)...)
	}
	got := complete("status", "") + complete("cancel", "") + complete("cancel", "s") + complete("tasks",
		"--output", "")
	golden(t, "completion", got)
}

// runAsync runs sfctl with args in the background; wait returns its output.
func (e *fleetEnv) runAsync(args ...string) (out *syncBuffer, wait func() string) {
	out = &syncBuffer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		root := newRoot(out, func() time.Time { return fixedNow })
		root.SetArgs(append(args, "--nats-url", e.url))
		root.SetOut(out)
		root.SetErr(out)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := root.ExecuteContext(ctx); err != nil {
			_, _ = out.Write([]byte("error: " + err.Error() + "\n"))
		}
	}()
	return out, func() string { <-done; return out.String() }
}

func TestStatusFollowPrintsStepsUntilTheEnd(t *testing.T) {
	e := newFleetEnv(t)
	e.openBucket()
	st := sampleTasks()[2] // running, one step done
	e.put(st)
	out, wait := e.runAsync("status", "search-3", "--follow")
	waitOutput(t, out, "[1/4] wait_for")
	st.Steps = append(st.Steps, messages.StepResult{Index: 1, Action: messages.ActionClick, OK: true,
		Detail: `clicked "Go" at (5,5)`, Duration: messages.Duration(200 * time.Millisecond)})
	e.put(st)
	waitOutput(t, out, "[2/4] click")
	st.State, st.FinishedAt, st.Code, st.Error = messages.StateFailed, fixedNow, messages.CodeDeadline, "task deadline 1m exceeded at step 3 of 4"
	e.put(st)
	golden(t, "status_follow", wait())
}

func TestCancelWaitsForTheSandbox(t *testing.T) {
	e := newFleetEnv(t)
	e.openBucket()
	for _, st := range sampleTasks() {
		e.put(st)
	}
	// The dispatcher lists the task's sandbox twice more, then no longer.
	var asked atomic.Int32
	full, _ := messages.Encode(messages.SandboxList{Dispatcher: "host-d2", Runtime: "docker", Capacity: 4,
		Sandboxes: []messages.SandboxInfo{{ID: "sb-777aaa", State: messages.SandboxStopping, Task: "search-3"}}})
	empty, _ := messages.Encode(messages.SandboxList{Dispatcher: "host-d2", Runtime: "docker", Capacity: 4})
	sub, err := e.nc.Subscribe(e.sub.SandboxList(), func(m *nats.Msg) {
		if asked.Add(1) <= 2 {
			_ = m.Respond(full)
		} else {
			_ = m.Respond(empty)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// The command asks on its own connection: the server must know of this
	// subscription first, or the ask gets no responders.
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	golden(t, "cancel_wait", e.run("cancel", "--wait", "search-3"))
}

func TestTerminalScreenRedrawsInPlace(t *testing.T) {
	var out bytes.Buffer
	s := &termScreen{out: &out}
	s.show(fleetView{at: fixedNow, sandboxErr: errNoAnswer, workersErr: errNoWorkers})
	got := out.String()
	if !strings.HasPrefix(got, "\x1b[H") || !strings.HasSuffix(got, "\x1b[J") ||
		!strings.Contains(got, "TASKS\x1b[K\n") {
		t.Errorf("not drawn in place: %q", got)
	}
}

func TestWhyATaskWaits(t *testing.T) {
	e := newFleetEnv(t)
	c := &conn{nc: e.nc, sub: e.sub}
	ctx := context.Background()
	if got := whyWaiting(ctx, c); !strings.Contains(got, "no dispatcher answered") {
		t.Errorf("without dispatchers: %q", got)
	}
	e.sampleSandboxes()
	if got := whyWaiting(ctx, c); !strings.Contains(got, "4 of 6 sandbox slots are free") {
		t.Errorf("with free slots: %q", got)
	}
}
