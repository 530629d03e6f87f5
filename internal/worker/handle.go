package worker

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// job is one decoded frame waiting for, or holding, a place in a batch.
type job struct {
	msg      *nats.Msg
	frame    messages.Frame
	received time.Time
}

// handler returns the subscription callback for m. It never blocks on the
// backend: it decodes, then queues the frame or refuses it.
func (w *Worker) handler(m *model) nats.MsgHandler {
	return func(msg *nats.Msg) { w.receive(m, msg) }
}

func (w *Worker) receive(m *model, msg *nats.Msg) {
	j := job{msg: msg, received: time.Now()}
	if msg.Reply == "" {
		w.metrics.frames.WithLabelValues(m.name, outcomeNoReply).Inc()
		return
	}
	frame, err := messages.DecodeFrame(msg.Data)
	if err == nil && frame.Ref != nil {
		err = w.fetchData(m, &frame)
	}
	j.frame = frame
	if err != nil {
		w.fail(m, j, messages.Detections{}, err, outcomeError)
		return
	}
	if err := w.enqueue(m, j); err != nil {
		w.fail(m, j, messages.Detections{}, err, outcomeOverloaded)
	}
}

// enqueue hands j to m's batcher without waiting. It fails, with an error
// the agent retries elsewhere, when the worker already holds as many frames
// of m as its batches in flight and its queue take, or is stopping.
func (w *Worker) enqueue(m *model, j job) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// The client runs a callback to completion before it reports its
	// subscription drained, so this guard is belt and braces against a send
	// on the closed queue.
	if w.closed {
		return messages.Errorf(messages.CodeBackendNotReady, "worker %s stopping", w.cfg.ID)
	}
	if m.held >= cap(m.jobs) {
		w.pauseLocked(m)
		return messages.Errorf(messages.CodeBackendNotReady,
			"worker %s overloaded: %d frames held (%d batches of up to %d in flight, %d waiting)",
			w.cfg.ID, m.held, w.cfg.MaxInFlight, m.batchSize(w.cfg.MaxBatch), w.cfg.MaxQueued)
	}
	m.held++
	m.jobs <- j // never blocks: the channel holds as many as held may count
	return nil
}

// pauseLocked stops taking m's frames while the worker is full: it leaves
// the queue group, so NATS routes new frames to the other workers at once
// instead of to a worker that can only refuse them. Frames already
// delivered are still answered (refused). release resumes. w.mu must be
// held.
func (w *Worker) pauseLocked(m *model) {
	if m.paused || m.sub == nil {
		return
	}
	m.paused = true
	w.unsubscribeLocked(m)
	w.metrics.paused.WithLabelValues(m.name).Inc()
	w.log.Warn().Str("event", "worker_full").Str("model", m.name).Int("held", m.held).
		Msg("worker full: stopped taking frames")
}

// fail replies to j with err as a coded error, and counts it.
func (w *Worker) fail(m *model, j job, d messages.Detections, err error, outcome string) {
	d.Status = messages.StatusError
	d.Code, d.Error = wireError(err)
	w.metrics.frames.WithLabelValues(m.name, outcome).Inc()
	w.metrics.countError(m.name, d.Code)
	m.stats.record(outcome, 0)
	w.reply(m, j, d)
}

// reply fills the identity fields of d and sends it to j's requester. Boxes
// are never nil on the wire: an empty list means nothing was found.
func (w *Worker) reply(m *model, j job, d messages.Detections) {
	d.V, d.Seq, d.Model = messages.Version, j.frame.Seq, m.name
	d.Worker, d.GPU = w.cfg.ID, w.cfg.GPU
	if d.Boxes == nil {
		d.Boxes = []messages.Box{}
	}
	data, err := messages.Encode(d)
	if err != nil {
		w.log.Error().Err(err).Str("model", m.name).Msg("encode detections")
		return
	}
	// Respond only fails when the connection is closed, which the
	// connection's own handlers already report.
	if err := j.msg.Respond(data); err != nil {
		w.log.Debug().Err(err).Str("model", m.name).Msg("reply")
	}
}

// fetchData reads the data of a frame sent by reference from the object
// store (C14). A reference to an object that is gone is a bad frame, which
// the agent does not retry.
//
// Known shortcoming: the fetch runs in the subscription callback, so the
// model's next frames wait for it (milliseconds for 8 MB from a local
// server). Frames over max_payload are rare, which a goroutine per fetch
// and its shutdown ordering would not repay.
func (w *Worker) fetchData(m *model, f *messages.Frame) error {
	ctx, cancel := context.WithTimeout(w.jobCtx, w.cfg.RequestTimeout)
	defer cancel()
	data, err := w.frames.Get(ctx, f.Ref)
	if err != nil {
		return err
	}
	w.metrics.byRef.WithLabelValues(m.name).Inc()
	f.Data, f.Ref = data, nil
	return nil
}
