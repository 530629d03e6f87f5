package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// Pending limits of each model's subscription, in the NATS client. The
// callback only decodes a frame and hands it to the pool (or refuses it), so
// the buffer fills only in a burst faster than decoding. The client default
// of 64 MiB holds about 20 busy 3 MB screenshots (C15); 256 MiB holds about
// 80, a bound on memory that a burst from a large fleet can still reach.
// Frames past the limit are dropped by the client and counted in
// sf_worker_slow_consumer_total.
const (
	pendingMsgs  = 1024
	pendingBytes = 256 << 20
)

// startWatch starts the goroutine that polls backend readiness and
// subscribes or drains each model accordingly.
func (w *Worker) startWatch(ctx context.Context) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.stopWatch = cancel
	w.watchDone = make(chan struct{})
	go w.watch(wctx)
}

func (w *Worker) watch(ctx context.Context) {
	defer close(w.watchDone)
	tick := time.NewTicker(w.cfg.ReadyInterval)
	defer tick.Stop()
	for {
		for _, m := range w.models {
			w.poll(ctx, m)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-w.wake:
		}
	}
}

// poll asks the backend whether m is ready and subscribes or drains to
// match. It logs transitions, not polls.
func (w *Worker) poll(ctx context.Context, m *model) {
	pctx, cancel := context.WithTimeout(ctx, w.cfg.RequestTimeout)
	err := w.backend.Ready(pctx, m.name)
	cancel()
	if ctx.Err() != nil {
		return // stopping: the answer is moot
	}
	w.metrics.ready.WithLabelValues(m.name).Set(boolGauge(err == nil))
	first := !m.polled
	m.polled = true

	switch subscribed := w.subscribed(m); {
	case err == nil && !subscribed && !w.isPaused(m):
		w.becomeReady(ctx, m)
	case err != nil && subscribed:
		w.mu.Lock()
		w.unsubscribeLocked(m)
		w.mu.Unlock()
		m.downSince = time.Now()
		w.log.Warn().Err(err).Str("event", "backend_not_ready").Str("model", m.name).
			Msg("backend not ready: stopped taking frames")
	case err != nil && first:
		m.downSince = time.Now()
		w.log.Info().Err(err).Str("event", "backend_waiting").Str("model", m.name).
			Msg("waiting for backend")
	}
}

// becomeReady subscribes m and logs the worker ready for it. A failure is
// logged once and retried at the next poll.
func (w *Worker) becomeReady(ctx context.Context, m *model) {
	ad, err := w.pickAdapter(ctx, m.name)
	if err == nil {
		m.ad.Store(&adapterRef{ad})
		m.limit.Store(0) // a reloaded model may take what its config says
		err = w.subscribe(ctx, m)
	}
	if err != nil {
		if !m.subFailed {
			w.log.Error().Err(err).Str("model", m.name).Msg("cannot serve model")
		}
		m.subFailed = true
		return
	}
	m.subFailed = false
	ev := w.log.Info().Str("event", "worker_ready").Str("model", m.name).
		Str("adapter", ad.kind()).Int("max_batch", ad.maxBatch())
	if !m.downSince.IsZero() {
		ev = ev.Dur("not_ready_for", time.Since(m.downSince))
	}
	ev.Msg("worker ready: taking frames")
}

// isPaused reports whether m stopped taking frames because it is full.
func (w *Worker) isPaused(m *model) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return m.paused
}

func (w *Worker) subscribed(m *model) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return m.sub != nil
}

// subscribe joins m's queue group and flushes, so that when it returns the
// server routes frames here (C15: announce ready only after the flush).
func (w *Worker) subscribe(ctx context.Context, m *model) error {
	subj, queue := w.subjects.InferAll(m.name), w.subjects.InferQueue(m.name)
	sub, err := w.nc.QueueSubscribe(subj, queue, w.handler(m))
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", subj, err)
	}
	closed := sub.StatusChanged(nats.SubscriptionClosed)
	if err := sub.SetPendingLimits(pendingMsgs, pendingBytes); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("set pending limits on %s: %w", subj, err)
	}
	directSubj := w.subjects.InferDirectAll(subjectToken(w.cfg.ID), m.name)
	direct, err := w.nc.Subscribe(directSubj, w.handler(m))
	if err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("subscribe %s: %w", directSubj, err)
	}
	fctx, cancel := context.WithTimeout(ctx, w.cfg.RequestTimeout)
	defer cancel()
	if err := w.nc.FlushWithContext(fctx); err != nil {
		_ = sub.Unsubscribe()
		_ = direct.Unsubscribe()
		return fmt.Errorf("flush subscription %s: %w", subj, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	m.sub, m.closed, m.direct = sub, closed, direct
	w.notifyLocked()
	return nil
}

// unsubscribeLocked drains m's subscription, if any: the server stops
// routing frames here at once, and the callback still hands over the frames
// already received. w.mu must be held.
func (w *Worker) unsubscribeLocked(m *model) {
	if m.sub == nil {
		return
	}
	if err := m.sub.Drain(); err != nil {
		w.log.Warn().Err(err).Str("model", m.name).Msg("drain subscription")
	}
	// The named subscription sees few frames (replays); unsubscribing drops
	// none already handed to the callback.
	_ = m.direct.Unsubscribe()
	m.direct = nil
	w.draining = append(pruneClosed(w.draining), m.closed)
	m.sub, m.closed = nil, nil
	w.notifyLocked()
}

// notifyLocked wakes WaitReady callers. w.mu must be held.
func (w *Worker) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// pruneClosed drops the channels of subscriptions that finished draining.
func pruneClosed(chs []<-chan nats.SubStatus) []<-chan nats.SubStatus {
	live := chs[:0]
	for _, ch := range chs {
		select {
		case <-ch:
		default:
			live = append(live, ch)
		}
	}
	return live
}
