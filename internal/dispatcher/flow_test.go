package dispatcher_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/internal/dispatcher"
	"github.com/screenfleet/screenfleet/internal/taskstore"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

func TestSuccessWritesStatesInOrder(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentOK))
	d := e.start(e.config(rt))
	history := e.watch("ok-1")

	e.submit(taskJSON("ok-1", 3, ""), "ok-1")
	st := e.waitState("ok-1", messages.StateSucceeded, 10*time.Second)
	e.waitSettled(5 * time.Second)

	if got, want := distinct(history()), "queued/1 assigned/1 running/1 succeeded/1"; got != want {
		t.Errorf("states %q, want %q", got, want)
	}
	if len(st.Steps) != 3 || st.StepCount != 3 || st.Steps[2].Index != 2 {
		t.Errorf("steps recorded: %+v (count %d)", st.Steps, st.StepCount)
	}
	if st.Dispatcher != d.ID() || !strings.HasPrefix(st.Sandbox, "sb-") || st.Code != 0 || st.Error != "" {
		t.Errorf("final state: %+v", st)
	}
	if st.StartedAt.IsZero() || st.FinishedAt.IsZero() || st.SubmittedAt.IsZero() {
		t.Errorf("times not set: %+v", st)
	}
	waitFor(t, "sandbox teardown", 20*time.Second, func() bool { return rt.live() == 0 })

	base := "http://" + d.HTTPAddr()
	if code, body := httpGet(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d %s", code, body)
	}
	_, metrics := httpGet(t, base+"/metrics")
	for _, want := range []string{`sf_tasks_total{state="succeeded"} 1`, `sf_dispatcher_sandboxes{runtime="unknown",state="running"} 0`,
		`sf_task_seconds_count{state="succeeded"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestTaskWithoutIDGetsStableID(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentOK))
	e.start(e.config(rt))

	body := []byte(`{"app":{"command":["true"],"width":320,"height":200},"steps":[{"action":"key","keys":"Return"}]}`)
	ack := e.submit(body, "")
	id := "task-" + strconv.FormatUint(ack.Sequence, 10)
	e.waitState(id, messages.StateSucceeded, 10*time.Second)
}

func TestInvalidTaskIsDeadLettered(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentOK))
	e.start(e.config(rt))

	e.submit([]byte(`{"id":"bad-1","app":{"width":320},"steps":[{"action":"type","text":"x"}]}`), "bad-1")
	e.submit([]byte(`not a task at all`), "")

	st := e.waitState("bad-1", messages.StateFailed, 10*time.Second)
	if st.Code != messages.CodeInvalidTask || !strings.Contains(st.Error, "app.command") {
		t.Errorf("failed state: code %d, error %q", st.Code, st.Error)
	}
	dead := readDeadLetters(t, e, 2)
	if dead[0].ID != "bad-1" || dead[0].Code != messages.CodeInvalidTask ||
		!strings.Contains(dead[0].Error, "app.command") || !strings.Contains(string(dead[0].Payload), `"bad-1"`) {
		t.Errorf("dead letter 1: %+v", dead[0])
	}
	if dead[1].ID != "" || dead[1].Code != messages.CodeInvalidTask {
		t.Errorf("dead letter 2: %+v", dead[1])
	}
	e.waitSettled(5 * time.Second)
	if rt.starts() != 0 {
		t.Errorf("invalid tasks started %d sandboxes", rt.starts())
	}
}

// A task too big for the dispatcher, published plainly (no ack, as `nats
// pub` does), and a task with a field of the wrong type, without a message
// id, are dead-lettered under the id their payloads name, each with a
// failed state that says why: neither vanishes.
func TestOversizeAndMistypedTasksAreFiledUnderTheirIDs(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentOK))
	e.start(e.config(rt))

	big := []byte(`{"id":"big-1","app":{"command":["true"]},"steps":[{"action":"type","text":"` +
		strings.Repeat("x", 2<<20) + `"}]}`)
	if err := e.nc.Publish(e.subj.TaskSubmit(), big); err != nil {
		t.Fatal(err)
	}
	e.submit([]byte(`{"id":"typed-1","app":{"command":["true"]},"steps":[{"action":"type","text":5}]}`), "")

	st := e.waitState("big-1", messages.StateFailed, 10*time.Second)
	want := "task is 2.1 MB; a task may be at most 1 MiB"
	if st.Code != messages.CodeInvalidTask || !strings.Contains(st.Error, want) {
		t.Errorf("big task: code %d, error %q", st.Code, st.Error)
	}
	st = e.waitState("typed-1", messages.StateFailed, 10*time.Second)
	if st.Code != messages.CodeInvalidTask {
		t.Errorf("mistyped task: code %d, error %q", st.Code, st.Error)
	}
	kept := map[string]int{} // payload bytes kept, by dead letter id
	for _, dl := range readDeadLetters(t, e, 2) {
		kept[dl.ID] = len(dl.Payload)
	}
	if n, ok := kept["big-1"]; !ok || n >= len(big) {
		t.Errorf("dead letters by id and payload bytes kept: %v (big task: want big-1, cut)", kept)
	}
	if _, ok := kept["typed-1"]; !ok {
		t.Errorf("dead letters by id: %v, want typed-1", kept)
	}
	if rt.starts() != 0 {
		t.Errorf("invalid tasks started %d sandboxes", rt.starts())
	}
}

func readDeadLetters(t *testing.T, e *env, n int) []messages.DeadLetter {
	t.Helper()
	ctx := ctxFor(t, 10*time.Second)
	c, err := e.js.OrderedConsumer(ctx, dispatcher.DeadStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []messages.DeadLetter
	for len(out) < n {
		msg, err := c.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("dead letter %d: %v", len(out)+1, err)
		}
		var dl messages.DeadLetter
		if err := messages.Decode(msg.Data(), &dl); err != nil {
			t.Fatal(err)
		}
		out = append(out, dl)
	}
	return out
}

func TestFinishedTaskIsNotRunTwice(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentOK))
	e.start(e.config(rt))

	e.submit(taskJSON("dup-1", 1, ""), "dup-1")
	e.waitState("dup-1", messages.StateSucceeded, 10*time.Second)
	if ack := e.submit(taskJSON("dup-1", 1, ""), "dup-1"); !ack.Duplicate {
		t.Errorf("resubmission inside the dedup window was not flagged duplicate")
	}
	// Outside the window (here: under another message id) the bucket decides.
	e.submit(taskJSON("dup-1", 1, ""), "dup-1-again")
	e.waitSettled(10 * time.Second)
	if rt.starts() != 1 {
		t.Fatalf("task ran %d times, want once", rt.starts())
	}
}

func TestSandboxDeathRetriesThenFails(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentDie))
	e.start(e.config(rt))
	history := e.watch("die-1")

	e.submit(taskJSON("die-1", 3, ""), "die-1")
	st := e.waitState("die-1", messages.StateFailed, 20*time.Second)

	if want := "agentd exited with status 2 (attempt 3 of 3)"; st.Error != want || st.Code != messages.CodeSandboxFailed {
		t.Errorf("failed with %d %q, want %d %q", st.Code, st.Error, messages.CodeSandboxFailed, want)
	}
	if rt.starts() != 3 {
		t.Errorf("%d sandboxes started, want 3", rt.starts())
	}
	want := "queued/1 assigned/1 running/1 queued/2 assigned/2 running/2 queued/3 assigned/3 running/3 failed/3"
	waitFor(t, "the watch to see the final state", 20*time.Second, func() bool {
		return distinct(history()) == want
	})
	waitFor(t, "sandbox teardown", 20*time.Second, func() bool { return rt.live() == 0 })
}

func TestRetryAfterDeathCanSucceed(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, func(attempt int) behaviour {
		if attempt == 1 {
			return agentDie
		}
		return agentOK
	})
	e.start(e.config(rt))

	e.submit(taskJSON("die-2", 2, ""), "die-2")
	st := e.waitState("die-2", messages.StateSucceeded, 20*time.Second)
	if st.Attempt != 2 || len(st.Steps) != 2 || st.Error != "" {
		t.Errorf("final state: attempt %d, %d steps, error %q", st.Attempt, len(st.Steps), st.Error)
	}
}

func TestAgentFailureIsFinal(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentFail))
	e.start(e.config(rt))

	e.submit(taskJSON("fail-1", 3, ""), "fail-1")
	st := e.waitState("fail-1", messages.StateFailed, 10*time.Second)
	if st.Code != messages.CodeTargetNotFound || !strings.Contains(st.Error, "Nope") || len(st.Seen) != 2 {
		t.Errorf("failed state: %+v", st)
	}
	e.waitSettled(5 * time.Second)
	if rt.starts() != 1 {
		t.Errorf("%d sandboxes started, want 1: an agent's failure is not retried", rt.starts())
	}
}

func TestDeadlineFailsTask(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentHang))
	e.start(e.config(rt))

	e.submit(taskJSON("slow-1", 3, "1s"), "slow-1")
	st := e.waitState("slow-1", messages.StateFailed, 10*time.Second)
	if want := "task deadline 1s exceeded at step 2 of 3"; st.Error != want || st.Code != messages.CodeDeadline {
		t.Errorf("failed with %d %q, want %d %q", st.Code, st.Error, messages.CodeDeadline, want)
	}
	e.waitSettled(5 * time.Second)
	if rt.starts() != 1 || rt.live() != 0 {
		t.Errorf("sandboxes: %d started, %d live; want 1 and 0", rt.starts(), rt.live())
	}
}

func TestUnansweredAssignmentIsRetried(t *testing.T) {
	e := newEnv(t)
	for _, b := range []behaviour{agentSilent, agentRefuse} {
		t.Run(string(b), func(t *testing.T) {
			rt := newFakeRuntime(t, e.url, always(b))
			cfg := e.config(rt)
			cfg.AssignTimeout, cfg.MaxAttempts = 500*time.Millisecond, 2
			d := e.start(cfg)
			defer func() { _ = d.Stop(context.Background()) }()

			id := "assign-" + string(b)
			e.submit(taskJSON(id, 1, ""), id)
			st := e.waitState(id, messages.StateFailed, 10*time.Second)
			if !strings.HasSuffix(st.Error, "(attempt 2 of 2)") || st.Code != messages.CodeSandboxFailed {
				t.Errorf("failed with %d %q", st.Code, st.Error)
			}
			t.Logf("reason: %s", st.Error)
			if rt.starts() != 2 {
				t.Errorf("%d sandboxes started, want 2", rt.starts())
			}
		})
	}
}

func TestShutdownHandsTaskToAnotherDispatcher(t *testing.T) {
	e := newEnv(t)
	hang := newFakeRuntime(t, e.url, always(agentHang))
	d1 := e.start(e.config(hang))

	e.submit(taskJSON("handover-1", 2, ""), "handover-1")
	e.waitState("handover-1", messages.StateRunning, 10*time.Second)

	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d1.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("shutdown with a task in flight took %s", time.Since(began))
	if hang.live() != 0 {
		t.Fatalf("%d sandboxes left running after shutdown", hang.live())
	}
	if st, _, _ := e.store.Get(context.Background(), "handover-1"); st.State.Final() {
		t.Fatalf("shutdown wrote a final state: %+v", st)
	}

	ok := newFakeRuntime(t, e.url, always(agentOK))
	d2 := e.start(e.config(ok))
	st := e.waitState("handover-1", messages.StateSucceeded, 10*time.Second)
	if st.Dispatcher != d2.ID() || st.Attempt != 2 || ok.starts() != 1 {
		t.Errorf("finished by %s at attempt %d (%d starts); want %s, attempt 2, 1 start",
			st.Dispatcher, st.Attempt, ok.starts(), d2.ID())
	}
	e.waitSettled(5 * time.Second)
}

func TestStopIsIdempotentAndBounded(t *testing.T) {
	e := newEnv(t)
	d := e.start(e.config(newFakeRuntime(t, e.url, always(agentOK))))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
}

// C17(a): the consumer is deleted while the dispatcher runs; a task
// submitted afterwards is processed within 10 s.
func TestDeletedConsumerIsRecreated(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentOK))
	e.start(e.config(rt))

	if err := e.js.DeleteConsumer(ctxFor(t, 5*time.Second), messages.TasksStream,
		messages.TasksConsumer); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	e.submit(taskJSON("after-delete", 1, ""), "after-delete")
	e.waitState("after-delete", messages.StateSucceeded, 10*time.Second)
	t.Logf("task processed %s after the consumer was deleted", time.Since(began))
}

func TestDeletedStreamIsRecreated(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentOK))
	e.start(e.config(rt))

	if err := e.js.DeleteStream(ctxFor(t, 5*time.Second), messages.TasksStream); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream to be recreated", 10*time.Second, func() bool {
		_, err := e.js.Stream(context.Background(), messages.TasksStream)
		return err == nil
	})
	e.submit(taskJSON("after-stream", 1, ""), "after-stream")
	e.waitState("after-stream", messages.StateSucceeded, 10*time.Second)
}

// C17(d): an existing durable with AckWait 30 s, when the dispatcher wants
// 60 s, is updated at start (and the stream's settings with it).
func TestExistingConsumerIsReconciled(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, 10*time.Second)
	_, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: messages.TasksStream,
		Subjects: []string{e.subj.TaskSubmit()}, Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.js.CreateConsumer(ctx, messages.TasksStream, jetstream.ConsumerConfig{
		Durable: messages.TasksConsumer, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 30 * time.Second, MaxAckPending: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.start(e.config(newFakeRuntime(t, e.url, always(agentOK))))

	c, err := e.js.Consumer(ctx, messages.TasksStream, messages.TasksConsumer)
	if err != nil {
		t.Fatal(err)
	}
	got := c.CachedInfo().Config
	if got.AckWait != 60*time.Second || got.MaxDeliver != 5 || got.MaxAckPending < 2 {
		t.Errorf("consumer not reconciled: ack wait %s, max deliver %d, max ack pending %d",
			got.AckWait, got.MaxDeliver, got.MaxAckPending)
	}
	s, err := e.js.Stream(ctx, messages.TasksStream)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := s.CachedInfo().Config; cfg.Duplicates != 10*time.Minute || cfg.MaxMsgSize != -1 {
		t.Errorf("stream not reconciled: duplicates %s, max msg size %d", cfg.Duplicates, cfg.MaxMsgSize)
	}
}

func TestPullsOnlyWithAFreeSlot(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentHang))
	cfg := e.config(rt)
	cfg.MaxSandboxes = 1
	e.start(cfg)

	for _, id := range []string{"bp-1", "bp-2", "bp-3"} {
		e.submit(taskJSON(id, 1, "1s"), id)
	}
	e.waitState("bp-1", messages.StateRunning, 10*time.Second)
	c, err := e.js.Consumer(ctxFor(t, 5*time.Second), messages.TasksStream, messages.TasksConsumer)
	if err != nil {
		t.Fatal(err)
	}
	// Hold for a few pull cycles: the other two must stay in the stream.
	for range 5 {
		info, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending > 1 || info.NumPending < 2 {
			t.Fatalf("with one slot busy: %d pending ack, %d waiting", info.NumAckPending, info.NumPending)
		}
		time.Sleep(200 * time.Millisecond) // observation interval, not synchronisation
	}
	for _, id := range []string{"bp-1", "bp-2", "bp-3"} {
		e.waitState(id, messages.StateFailed, 15*time.Second)
	}
}

func TestCancelStopsTheRunningAttempt(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentHang))
	e.start(e.config(rt))

	e.submit(taskJSON("cancel-2", 2, ""), "cancel-2")
	e.waitState("cancel-2", messages.StateRunning, 10*time.Second)
	if _, err := e.store.Transition(context.Background(), "cancel-2", messages.StateCancelled,
		nil); err != nil {
		t.Fatal(err)
	}
	e.waitSettled(5 * time.Second)
	waitFor(t, "the sandbox to be stopped", 5*time.Second, func() bool { return rt.live() == 0 })
	if st, _, _ := e.store.Get(context.Background(), "cancel-2"); st.State != messages.StateCancelled {
		t.Errorf("state after cancel: %s", st.State)
	}
}

func TestCancelledTaskIsSkipped(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentOK))
	e.start(e.config(rt))

	// A task cancelled before a dispatcher reaches it is skipped.
	_, err := e.store.Create(ctxFor(t, 5*time.Second), messages.TaskStatus{ID: "cancel-1",
		State: messages.StateCancelled})
	if err != nil {
		t.Fatal(err)
	}
	e.submit(taskJSON("cancel-1", 1, ""), "cancel-1")
	e.waitSettled(10 * time.Second)
	if rt.starts() != 0 {
		t.Errorf("cancelled task started %d sandboxes", rt.starts())
	}
	_, err = e.store.Transition(context.Background(), "cancel-1", messages.StateFailed, nil)
	if !errors.Is(err, taskstore.ErrStaleTransition) {
		t.Errorf("cancelled state moved: %v", err)
	}
}
