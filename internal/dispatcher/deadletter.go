package dispatcher

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/internal/taskstore"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// maxDeadPayload caps the original payload kept in a dead letter, so that a
// dead letter always fits under a server's default 1 MiB max_payload.
const maxDeadPayload = 512 << 10

// deadLetter records a task that cannot be parsed or validated: a
// messages.DeadLetter on the dead-letter subject, a failed state when the
// message named the task, and a terminated message, never redelivered. If
// the dead letter cannot be published the message is redelivered later.
func (d *Dispatcher) deadLetter(ctx context.Context, msg jetstream.Msg, id string, seq uint64,
	cause error) {
	log := d.log.With().Str("task", id).Logger()
	payload := msg.Data()
	if len(payload) > maxDeadPayload {
		payload = payload[:maxDeadPayload]
	}
	dl := messages.DeadLetter{V: messages.Version, ID: id, Code: messages.CodeOf(cause),
		Error: cause.Error(), Payload: payload}
	b, err := messages.Encode(dl)
	if err == nil {
		// The message id makes a redelivered poison task dead-letter once.
		// The error also travels as a header, readable in `nats stream view`.
		m := nats.NewMsg(d.subj.TaskDead())
		m.Data = b
		m.Header.Set(messages.ErrorHeader, dl.Error)
		_, err = d.js.PublishMsg(ctx, m, jetstream.WithMsgID("dead-"+strconv.FormatUint(seq, 10)))
	}
	if err != nil {
		log.Error().Err(err).Msg("cannot publish dead letter; task will be redelivered")
		_ = msg.NakWithDelay(transientRetry)
		return
	}
	if id != "" {
		d.recordInvalid(ctx, id, dl)
	}
	if err := msg.TermWithReason("invalid task"); err != nil {
		log.Warn().Err(err).Msg("cannot terminate invalid task message")
	}
	d.metrics.tasks.WithLabelValues(stateDeadLetter).Inc()
	d.metrics.finish(messages.StateFailed, dl.Code)
	log.Warn().Str("event", "task_failed").Bool("dead_letter", true).Int("code", int(dl.Code)).
		Str("error", dl.Error).Msg("invalid task sent to dead letters")
}

// recordInvalid writes a failed state for an invalid task that named itself,
// unless the id already has a state: a valid task with the same id must
// not be overwritten by a broken resubmission.
func (d *Dispatcher) recordInvalid(ctx context.Context, id string, dl messages.DeadLetter) {
	if messages.CheckToken("task id", id) != nil {
		return // cannot be a key; the dead letter carries it
	}
	kctx, cancel := context.WithTimeout(ctx, kvTimeout)
	defer cancel()
	now := time.Now()
	_, err := d.store.Create(kctx, messages.TaskStatus{ID: id, State: messages.StateFailed,
		Code: dl.Code, Error: dl.Error, SubmittedAt: now, FinishedAt: now})
	if err != nil && !errors.Is(err, taskstore.ErrExists) {
		d.log.Warn().Str("task", id).Err(err).Msg("cannot record invalid task's state")
	}
}
