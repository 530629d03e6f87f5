package dispatcher

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// stallAfter is how long tasks may wait in the stream while a dispatcher
// with a free slot gets none of them before the consumer counts as stalled:
// a second consumer check (consumerCheckEvery) that sees the same, so one
// slow pull is not an alarm, and the alert (deploy/prometheus-rules.yml)
// can fire within 30 s (C17).
const stallAfter = consumerCheckEvery

// stallWatch is the liveness watchdog of C17: it compares the tasks waiting
// in the stream with the consumer's deliveries. It belongs to the pull loop.
type stallWatch struct {
	delivered uint64    // the consumer's delivered sequence at the last look
	since     time.Time // since when tasks waited with no delivery; zero if they did not
	stalled   bool
}

// observeConsumer looks at fresh consumer info taken while this dispatcher
// had a free slot and pulled nothing. Tasks waiting with no delivery for
// stallAfter mark the consumer stalled (sf_dispatcher_consumer_stalled 1,
// a warning with the consumer's counts) and reconcile its settings, which
// undoes a drifted MaxAckPending or AckWait; a delivery clears the mark.
func (d *Dispatcher) observeConsumer(ctx context.Context, w *stallWatch, info *jetstream.ConsumerInfo) {
	moved := info.Delivered.Consumer != w.delivered || info.NumPending == 0
	w.delivered = info.Delivered.Consumer
	if moved {
		d.unstall(w)
		return
	}
	if w.since.IsZero() {
		w.since = time.Now()
		return
	}
	if w.stalled || time.Since(w.since) < stallAfter {
		return
	}
	w.stalled = true
	d.metrics.stalled.Set(1)
	d.metrics.stalls.Inc()
	d.log.Warn().Str("event", "consumer_stalled").Uint64("pending", info.NumPending).
		Int("ack_pending", info.NumAckPending).Int("max_ack_pending", info.Config.MaxAckPending).
		Dur("waiting", time.Since(w.since)).
		Msg("tasks wait in the stream but the consumer delivers none; reconciling its settings")
	if err := d.ensureConsumer(ctx, "stalled"); err != nil {
		d.log.Error().Err(err).Msg("reconcile stalled consumer")
	}
}

// unstall clears the stall mark: the consumer delivered a task, or has
// none waiting.
func (d *Dispatcher) unstall(w *stallWatch) {
	if w.stalled {
		d.metrics.stalled.Set(0)
		d.log.Info().Str("event", "consumer_unstalled").Msg("task consumer delivers again")
	}
	w.since, w.stalled = time.Time{}, false
}
