package worker

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// job is one decoded frame waiting for, or holding, a slot.
type job struct {
	model    string
	msg      *nats.Msg
	frame    messages.Frame
	received time.Time
}

// handler returns the subscription callback for model. It never blocks on
// the backend: it decodes, then queues the frame or refuses it.
func (w *Worker) handler(model string) nats.MsgHandler {
	return func(msg *nats.Msg) { w.receive(model, msg) }
}

func (w *Worker) receive(model string, msg *nats.Msg) {
	j := job{model: model, msg: msg, received: time.Now()}
	if msg.Reply == "" {
		w.metrics.frames.WithLabelValues(model, outcomeNoReply).Inc()
		return
	}
	frame, err := messages.DecodeFrame(msg.Data)
	j.frame = frame
	if err != nil {
		w.fail(j, messages.Detections{}, err, outcomeError)
		return
	}
	if err := w.enqueue(j); err != nil {
		w.fail(j, messages.Detections{}, err, outcomeOverloaded)
	}
}

// enqueue hands j to the pool without waiting. It fails, with an error the
// agent retries elsewhere, when the queue is full or the worker is stopping.
func (w *Worker) enqueue(j job) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// The client runs a callback to completion before it reports its
	// subscription drained, so this guard is belt and braces against a send
	// on the closed queue.
	if w.closed {
		return messages.Errorf(messages.CodeBackendNotReady, "worker %s stopping", w.cfg.ID)
	}
	select {
	case w.jobs <- j:
		return nil
	default:
		return messages.Errorf(messages.CodeBackendNotReady,
			"worker %s overloaded: %d frames in flight and %d waiting",
			w.cfg.ID, w.cfg.MaxInFlight, cap(w.jobs))
	}
}

// startPool starts MaxInFlight goroutines taking jobs until the queue closes:
// the pool size is the cap on concurrent backend calls. Their calls outlive
// ctx's cancellation, so a stop can finish them; Stop aborts them if it must.
func (w *Worker) startPool(ctx context.Context) {
	w.jobCtx, w.abortJobs = context.WithCancel(context.WithoutCancel(ctx))
	for range w.cfg.MaxInFlight {
		w.pool.Add(1)
		go func() {
			defer w.pool.Done()
			for j := range w.jobs {
				w.process(j)
			}
		}()
	}
}

// process runs j through the backend and replies.
func (w *Worker) process(j job) {
	start := time.Now()
	queued := start.Sub(j.received)
	w.metrics.queue.WithLabelValues(j.model).Observe(queued.Seconds())

	boxes, err := w.infer(j)
	took := time.Since(start)
	d := messages.Detections{InferNs: took.Nanoseconds(), QueueNs: queued.Nanoseconds()}
	if err != nil {
		w.fail(j, d, err, outcomeError)
		return
	}
	w.metrics.infer.WithLabelValues(j.model).Observe(took.Seconds())
	w.metrics.frames.WithLabelValues(j.model, outcomeOK).Inc()
	d.Status, d.Boxes = messages.StatusOK, boxes
	w.reply(j, d)
}

// infer makes one backend call for j's frame, bounded by RequestTimeout.
func (w *Worker) infer(j job) ([]messages.Box, error) {
	w.metrics.inFlight.Inc()
	defer w.metrics.inFlight.Dec()
	ctx, cancel := context.WithTimeout(w.jobCtx, w.cfg.RequestTimeout)
	defer cancel()

	out, err := w.backend.InferBoxes(ctx, j.model, [][]byte{j.frame.Data})
	if err != nil {
		return nil, err
	}
	if len(out) != 1 {
		return nil, messages.Errorf(messages.CodeInferFailed,
			"backend returned %d results for 1 image", len(out))
	}
	return out[0], nil
}

// fail replies to j with err as a coded error, and counts it.
func (w *Worker) fail(j job, d messages.Detections, err error, outcome string) {
	d.Status = messages.StatusError
	d.Code, d.Error = wireError(err)
	w.metrics.frames.WithLabelValues(j.model, outcome).Inc()
	w.metrics.countError(j.model, d.Code)
	w.reply(j, d)
}

// reply fills the identity fields of d and sends it to j's requester. Boxes
// are never nil on the wire: an empty list means nothing was found.
func (w *Worker) reply(j job, d messages.Detections) {
	d.V, d.Seq, d.Model = messages.Version, j.frame.Seq, j.model
	d.Worker, d.GPU = w.cfg.ID, w.cfg.GPU
	if d.Boxes == nil {
		d.Boxes = []messages.Box{}
	}
	data, err := messages.Encode(d)
	if err != nil {
		w.log.Error().Err(err).Str("model", j.model).Msg("encode detections")
		return
	}
	// Respond only fails when the connection is closed, which the
	// connection's own handlers already report.
	if err := j.msg.Respond(data); err != nil {
		w.log.Debug().Err(err).Str("model", j.model).Msg("reply")
	}
}
