package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/taskstore"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// heartbeatsPerAckWait is how often, per ack wait, a running task
	// tells the server it is still being worked on: four, so that two lost
	// heartbeats in a row still do not trigger a redelivery.
	heartbeatsPerAckWait = 4

	// kvTimeout bounds one task-state write, including its conflict retries.
	kvTimeout = 10 * time.Second

	// retryPause separates a failed attempt from the next: a dead agent
	// often means a loaded host, and a short pause lets it settle.
	retryPause = 500 * time.Millisecond

	// transientRetry delays the redelivery of a task whose state could not
	// be written (the server is unreachable or restarting).
	transientRetry = 5 * time.Second
)

// settlement is what happens to a task's message when its handling ends.
type settlement int

const (
	settleAck      settlement = iota // final state written, or nothing to do
	settleNak                        // shutdown: hand it to another dispatcher now
	settleNakLater                   // transient failure: try again after a pause
	settleNone                       // another delivery owns the task now
)

// taskRun is one delivery of one task.
type taskRun struct {
	task  messages.Task
	msg   jetstream.Msg
	log   zerolog.Logger
	began time.Time
}

// handle runs one delivered task to its end, or until shutdown.
func (d *Dispatcher) handle(ctx context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		d.log.Error().Err(err).Msg("message without jetstream metadata; terminating it")
		_ = msg.Term()
		return
	}
	hdrID := msg.Headers().Get(messages.MsgIDHeader)
	if n := len(msg.Data()); n > messages.MaxTaskBytes {
		err := messages.Errorf(messages.CodeInvalidTask, "task is %s; a task may be at most %s "+
			"(large inputs belong in files the app opens, not in the task)",
			sizeText(n), sizeText(messages.MaxTaskBytes))
		d.deadLetter(ctx, msg, idOf(msg.Data(), hdrID), meta.Sequence.Stream, err)
		return
	}
	task, unknown, err := messages.DecodeTaskUnknown(msg.Data())
	if err != nil {
		d.deadLetter(ctx, msg, idOf(msg.Data(), hdrID), meta.Sequence.Stream, err)
		return
	}
	task.ID = taskID(task, hdrID, meta.Sequence.Stream)
	r := &taskRun{task: task, msg: msg, began: time.Now(),
		log: d.log.With().Str("task", task.ID).Logger()}
	if len(unknown) > 0 && meta.NumDelivered == 1 {
		// Ignored, as DESIGN.md says of unknown fields, but said once: a
		// misspelt optional field otherwise silently takes its default.
		names := make([]string, len(unknown))
		for i, u := range unknown {
			names[i] = u.String()
		}
		r.log.Warn().Str("event", "task_unknown_fields").Strs("fields", names).
			Msg("task has fields no version of the task format has; they are ignored")
	}

	stop := d.heartbeat(msg, r.log)
	s := d.runTask(ctx, r, meta)
	stop()
	d.settle(r, s)
}

// taskID picks the task's id: its own, else the message id it was published
// with, else one made from the stream sequence, which stays the same across
// redeliveries.
func taskID(t messages.Task, hdrID string, seq uint64) string {
	if t.ID != "" {
		return t.ID
	}
	t.ID = hdrID
	if hdrID != "" && t.Validate() == nil {
		return hdrID
	}
	return "task-" + strconv.FormatUint(seq, 10)
}

// idOf returns the id to file an invalid task under: the message id it was
// published with, else the "id" its payload names when that much of it can
// be read (a task with a field of the wrong type still names itself), else
// "".
func idOf(payload []byte, hdrID string) string {
	if hdrID != "" {
		return hdrID
	}
	var named struct {
		ID string `json:"id" msgpack:"id"`
	}
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		_ = json.Unmarshal(trimmed, &named)
	} else {
		_ = messages.Decode(payload, &named)
	}
	if messages.CheckToken("task id", named.ID) != nil {
		return ""
	}
	return named.ID
}

// sizeText writes n bytes for people: "2.5 MB", "1 MiB", and exact bytes
// below 2 MiB, where a rounded figure could read as under the limit.
func sizeText(n int) string {
	if n == 1<<20 {
		return "1 MiB"
	}
	if n >= 2<<20 {
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB"
	}
	return strconv.Itoa(n) + " bytes"
}

// heartbeat keeps the message from being redelivered while the task runs.
func (d *Dispatcher) heartbeat(msg jetstream.Msg, log zerolog.Logger) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(d.cfg.AckWait / heartbeatsPerAckWait)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					log.Warn().Err(err).Msg("task heartbeat failed")
				}
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); <-stopped }
}

func (d *Dispatcher) settle(r *taskRun, s settlement) {
	var err error
	switch s {
	case settleAck:
		ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
		err = r.msg.DoubleAck(ctx)
		cancel()
	case settleNak:
		err = r.msg.Nak()
		r.log.Info().Str("event", "task_released").Msg("task handed back for another dispatcher")
	case settleNakLater:
		err = r.msg.NakWithDelay(transientRetry)
	}
	if err != nil {
		r.log.Warn().Err(err).Msg("cannot settle task message; it will be redelivered")
	}
}

// runTask records the task as queued (or resumes it after a redelivery) and
// runs attempts until one ends the task, attempts run out, or shutdown.
func (d *Dispatcher) runTask(ctx context.Context, r *taskRun, meta *jetstream.MsgMetadata) settlement {
	attempt, s, ok := d.admit(ctx, r, meta)
	if !ok {
		return s
	}
	for {
		res := d.runAttempt(ctx, r, attempt)
		if res.kind != resultRetry {
			return d.conclude(ctx, r, attempt, res)
		}
		if attempt >= d.cfg.MaxAttempts {
			res = failed(messages.CodeSandboxFailed, "%s (attempt %d of %d)", res.err, attempt, d.cfg.MaxAttempts)
			return d.conclude(ctx, r, attempt, res)
		}
		if s, ok := d.requeue(ctx, r, attempt, res.err); !ok {
			return s
		}
		attempt++
		if !sleepCtx(ctx, retryPause) {
			return settleNak
		}
	}
}

// admit writes the queued state of a new task and returns attempt 1. For a
// task the bucket already knows, it skips a finished one (a resubmission)
// and resumes an unfinished one (a redelivery) with its next attempt.
func (d *Dispatcher) admit(ctx context.Context, r *taskRun, meta *jetstream.MsgMetadata) (int,
	settlement, bool) {
	kctx, cancel := context.WithTimeout(ctx, kvTimeout)
	defer cancel()
	st := messages.TaskStatus{ID: r.task.ID, State: messages.StateQueued, Attempt: 1,
		StepCount: len(r.task.Steps), SubmittedAt: meta.Timestamp}
	_, err := d.store.Create(kctx, st)
	if err == nil {
		d.logState(r, messages.StateQueued, 1).Msg("task queued")
		return 1, settleAck, true
	}
	if !errors.Is(err, taskstore.ErrExists) {
		return 0, d.kvFailed(ctx, r, err), false
	}
	cur, _, err := d.store.Get(kctx, r.task.ID)
	if err != nil {
		return 0, d.kvFailed(ctx, r, err), false
	}
	if cur.State.Final() {
		r.log.Info().Str("event", "task_duplicate").Str("state", string(cur.State)).
			Msg("task already finished; skipping resubmission")
		return 0, settleAck, false
	}
	return d.resume(ctx, r, cur)
}

// resume continues a task whose earlier delivery ended without a final
// state. An attempt that had started counts as used.
func (d *Dispatcher) resume(ctx context.Context, r *taskRun, cur messages.TaskStatus) (int,
	settlement, bool) {
	attempt := max(cur.Attempt, 1)
	if cur.State == messages.StateQueued {
		d.logState(r, messages.StateQueued, attempt).Bool("redelivered", true).Msg("task queued")
		return attempt, settleAck, true
	}
	reason := fmt.Sprintf("attempt %d interrupted in state %s (sandbox %s, dispatcher %s)",
		cur.Attempt, cur.State, cur.Sandbox, cur.Dispatcher)
	if attempt >= d.cfg.MaxAttempts {
		res := failed(messages.CodeSandboxFailed, "%s (attempt %d of %d)", reason, attempt, d.cfg.MaxAttempts)
		return 0, d.conclude(ctx, r, attempt, res), false
	}
	if s, ok := d.requeue(ctx, r, attempt, errors.New(reason)); !ok {
		return 0, s, false
	}
	return attempt + 1, settleAck, true
}

// requeue moves the task back to queued for attempt+1 after attempt failed
// for a sandbox reason. It is an Update, not a Transition: a sandbox that
// failed to start leaves the task queued already, and only the attempt
// moves.
func (d *Dispatcher) requeue(ctx context.Context, r *taskRun, attempt int, reason error) (settlement,
	bool) {
	kctx, cancel := context.WithTimeout(ctx, kvTimeout)
	defer cancel()
	_, err := d.store.Update(kctx, r.task.ID, func(st *messages.TaskStatus) error {
		if st.Attempt != attempt {
			return errNotOwner
		}
		st.State, st.Attempt = messages.StateQueued, attempt+1
		st.Code, st.Error = messages.CodeSandboxFailed, fmt.Sprintf("attempt %d: %v", attempt, reason)
		st.Steps, st.Seen, st.Sandbox = nil, nil, ""
		return nil
	})
	if err != nil {
		return d.writeFailed(ctx, r, err), false
	}
	d.logState(r, messages.StateQueued, attempt+1).Str("reason",
		reason.Error()).Msg("task queued for another attempt")
	return settleAck, true
}

// conclude writes the end of an attempt: a final state, or nothing when the
// attempt was cut short by shutdown or taken over.
func (d *Dispatcher) conclude(ctx context.Context, r *taskRun, attempt int, res attemptResult) settlement {
	switch res.kind {
	case resultShutdown:
		return settleNak
	case resultSettled:
		return res.settle
	}
	// A final state is written even during shutdown: the agent has
	// finished, and handing the task back would run it again.
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), kvTimeout)
	defer cancel()
	st, err := d.store.Transition(kctx, r.task.ID, res.state, func(st *messages.TaskStatus) error {
		if st.Attempt != attempt {
			return errNotOwner
		}
		st.Code, st.Error, st.Seen = res.code, res.errText(), res.seen
		return nil
	})
	if err != nil {
		return d.writeFailed(ctx, r, err)
	}
	elapsed := time.Since(r.began)
	d.metrics.taskSeconds.WithLabelValues(string(st.State)).Observe(elapsed.Seconds())
	d.metrics.finish(st.State, st.Code)
	ev := d.logState(r, st.State, attempt)
	if st.State != messages.StateSucceeded {
		ev = ev.Int("code", int(st.Code)).Str("error", st.Error)
	}
	ev.Msg("task " + string(st.State))
	return settleAck
}

// logState counts the move into state and starts its log line.
func (d *Dispatcher) logState(r *taskRun, state messages.State, attempt int) *zerolog.Event {
	d.metrics.tasks.WithLabelValues(string(state)).Inc()
	ev := r.log.Info()
	if state == messages.StateFailed {
		ev = r.log.Warn()
	}
	return ev.Str("event", "task_"+string(state)).Int("attempt", attempt).Dur("elapsed", time.Since(r.began))
}

// writeFailed decides what a failed state write means for the message.
func (d *Dispatcher) writeFailed(ctx context.Context, r *taskRun, err error) settlement {
	switch {
	case errors.Is(err, errNotOwner):
		r.log.Warn().Str("event", "task_taken_over").Err(err).Msg("another delivery owns the task now; letting go")
		return settleNone
	case errors.Is(err, taskstore.ErrStaleTransition):
		r.log.Info().Str("event", "task_ended_elsewhere").Err(err).Msg("task reached a final state elsewhere")
		return settleAck
	}
	return d.kvFailed(ctx, r, err)
}

func (d *Dispatcher) kvFailed(ctx context.Context, r *taskRun, err error) settlement {
	if ctx.Err() != nil {
		return settleNak
	}
	r.log.Error().Err(err).Msg("cannot write task state; retrying the task later")
	return settleNakLater
}

// errNotOwner means the task's state belongs to another attempt: the message
// was redelivered and another dispatcher (or delivery) took the task over.
var errNotOwner = errors.New("task is owned by another attempt")
