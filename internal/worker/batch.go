package worker

import (
	"context"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// startBatchers starts one batcher per model. Batches run on goroutines that
// hold one of MaxInFlight slots, so at most MaxInFlight backend calls run at
// a time whatever the number of models. The calls outlive ctx's
// cancellation, so a stop can finish them; Stop aborts them if it must.
func (w *Worker) startBatchers(ctx context.Context) {
	w.jobCtx, w.abortJobs = context.WithCancel(context.WithoutCancel(ctx))
	w.slots = make(chan struct{}, w.cfg.MaxInFlight)
	for _, m := range w.models {
		w.pool.Add(1)
		go func() {
			defer w.pool.Done()
			w.batchLoop(m)
		}()
	}
}

// batchLoop forms m's batches until its queue closes. It takes the first
// frame, waits for a slot (frames pile up meanwhile, which is what makes
// batches under load), then gathers what is queued up to the model's batch
// size, waiting at most MaxWait after the first frame arrived for more
// while another batch is in the backend.
func (w *Worker) batchLoop(m *model) {
	for first := range m.jobs {
		w.slots <- struct{}{}
		batch := w.gather(m, first)
		w.pool.Add(1)
		go func() {
			defer func() { <-w.slots; w.pool.Done() }()
			if fresh := w.dropStale(m, batch); len(fresh) > 0 {
				w.process(m, fresh)
			}
			w.release(m, len(batch))
		}()
	}
}

// release counts n frames of m as answered. A paused model resumes once
// half its room is free again, so that it does not flap at the limit: the
// watcher rejoins the queue group at once.
func (w *Worker) release(m *model, n int) {
	w.mu.Lock()
	m.held -= n
	resume := m.paused && m.held <= cap(m.jobs)/2
	if resume {
		m.paused = false
		w.log.Info().Str("event", "worker_resumed").Str("model", m.name).Int("held", m.held).
			Msg("worker has room: taking frames again")
	}
	w.mu.Unlock()
	if resume {
		select {
		case w.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// gather returns first and the frames that follow it, up to the batch size.
func (w *Worker) gather(m *model, first job) []job {
	size := m.batchSize(w.cfg.MaxBatch)
	batch := append(make([]job, 0, size), first)
	var timer *time.Timer
	for len(batch) < size {
		select {
		case j, ok := <-m.jobs:
			if !ok {
				return batch
			}
			batch = append(batch, j)
			continue
		default:
		}
		// Waiting for companions only pays while another batch keeps the
		// backend busy: an idle backend gets the frame at once, so batching
		// adds no latency at low load.
		wait := w.cfg.MaxWait - time.Since(first.received)
		if wait <= 0 || w.inFlight.Load() == 0 {
			return batch
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		select {
		case j, ok := <-m.jobs:
			if !ok {
				return batch
			}
			batch = append(batch, j)
		case <-timer.C:
			return batch
		}
	}
	return batch
}

// dropStale answers the frames of batch that waited longer than
// MaxFrameAge with a retryable error, and returns the others. Their agents
// have timed out on them and sent newer frames, so serving them would only
// delay the newer ones (C11: newest wins).
func (w *Worker) dropStale(m *model, batch []job) []job {
	fresh := batch[:0:0]
	for _, j := range batch {
		if waited := time.Since(j.received); waited > w.cfg.MaxFrameAge {
			err := messages.Errorf(messages.CodeBackendNotReady,
				"frame %d waited %s in worker %s, over the %s freshness window: dropped for newer frames",
				j.frame.Seq, waited.Round(time.Millisecond), w.cfg.ID, w.cfg.MaxFrameAge)
			w.fail(m, j, messages.Detections{QueueNs: waited.Nanoseconds()}, err, outcomeStale)
			continue
		}
		fresh = append(fresh, j)
	}
	return fresh
}

// process runs one batch through the backend in one call and replies to
// each frame's own requester with its own boxes. A batch the backend
// rejects as invalid is split and retried frame by frame, so one bad frame
// does not fail its companions and a backend whose real maximum batch is
// smaller than it says still serves (C09).
func (w *Worker) process(m *model, batch []job) error {
	start := time.Now()
	boxes, err := w.infer(m, batch)
	if err != nil && len(batch) > 1 && isInvalid(err) {
		w.split(m, batch)
		return err
	}
	took := time.Since(start)
	w.metrics.batch.WithLabelValues(m.name).Observe(float64(len(batch)))
	for i, j := range batch {
		queued := start.Sub(j.received)
		w.metrics.queue.WithLabelValues(m.name).Observe(queued.Seconds())
		d := messages.Detections{InferNs: took.Nanoseconds(), QueueNs: queued.Nanoseconds()}
		if err != nil {
			w.fail(m, j, d, err, outcomeError)
			continue
		}
		w.metrics.frames.WithLabelValues(m.name, outcomeOK).Inc()
		m.stats.record(outcomeOK, time.Since(j.received))
		d.Status, d.Boxes = messages.StatusOK, boxes[i]
		w.reply(m, j, d)
	}
	if err == nil {
		w.metrics.infer.WithLabelValues(m.name).Observe(took.Seconds())
		m.stats.batch(len(batch))
	}
	return err
}

// split retries a rejected batch frame by frame. When every frame passes on
// its own, the size was the fault: the backend's real maximum is below what
// its configuration says (an engine built for smaller batches, C09), so the
// model's batches are capped at half the rejected size from then on, until
// the model is picked up again.
func (w *Worker) split(m *model, batch []job) {
	w.metrics.splits.WithLabelValues(m.name).Inc()
	passed := true
	for _, j := range batch {
		if err := w.process(m, []job{j}); err != nil {
			passed = false
		}
	}
	if limit := int64(len(batch) / 2); passed && (m.limit.Load() == 0 || limit < m.limit.Load()) {
		m.limit.Store(limit)
		w.log.Warn().Str("event", "batch_capped").Str("model", m.name).Int("rejected", len(batch)).
			Int64("max_batch", limit).Msg("backend rejects batches its config allows: smaller batches from now on")
	}
}

// infer makes one backend call for the batch, bounded by RequestTimeout.
func (w *Worker) infer(m *model, batch []job) ([][]messages.Box, error) {
	w.metrics.inFlight.Inc()
	defer w.metrics.inFlight.Dec()
	w.inFlight.Add(int64(len(batch)))
	defer w.inFlight.Add(-int64(len(batch)))
	ctx, cancel := context.WithTimeout(w.jobCtx, w.cfg.RequestTimeout)
	defer cancel()

	frames := make([]messages.Frame, len(batch))
	for i, j := range batch {
		frames[i] = j.frame
	}
	out, err := m.adapterOr(w.defaultAdapter(m.name)).infer(ctx, frames)
	if err != nil {
		return nil, err
	}
	if len(out) != len(batch) {
		return nil, messages.Errorf(messages.CodeInferFailed,
			"backend returned %d results for %d images", len(out), len(batch))
	}
	return out, nil
}
