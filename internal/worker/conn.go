package worker

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/internal/framestore"
	"github.com/screenfleet/screenfleet/internal/natsconn"
)

// connect dials cfg.NATSURL, or adopts cfg.Conn, and installs the async
// error handler that counts slow-consumer events.
func (w *Worker) connect() error {
	if w.cfg.Conn != nil {
		w.nc = w.cfg.Conn
		w.frames = framestore.New(w.js())
		prev := w.nc.ErrorHandler()
		w.nc.SetErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			w.asyncError(sub, err)
			if prev != nil {
				prev(nc, sub, err)
			}
		})
		return nil
	}
	opts := []nats.Option{
		nats.Name("sf-worker " + w.cfg.ID),
		// A worker outlives NATS restarts: keep reconnecting, and the
		// client resends the subscriptions.
		nats.MaxReconnects(-1),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if !w.asyncError(sub, err) {
				w.log.Warn().Err(err).Msg("nats async error")
			}
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() {
				return // our own Close, not an outage
			}
			w.log.Warn().Err(err).Str("event", "nats_disconnected").Msg("nats disconnected")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			w.log.Info().Str("event", "nats_reconnected").Str("url", nc.ConnectedUrlRedacted()).
				Msg("nats reconnected")
		}),
	}
	nc, err := nats.Connect(w.cfg.NATSURL, append(opts, w.cfg.NATSOptions...)...)
	if err != nil {
		return fmt.Errorf("worker connect to nats %s: %w", natsconn.Redact(w.cfg.NATSURL), err)
	}
	w.nc, w.ownConn = nc, true
	w.frames = framestore.New(w.js())
	return nil
}

// js returns a JetStream context on the connection, for frames sent by
// reference. jetstream.New fails only without a connection, which connect
// has ruled out.
func (w *Worker) js() jetstream.JetStream {
	js, _ := jetstream.New(w.nc)
	return js
}

// asyncError counts and logs a slow-consumer event on one of this worker's
// subscriptions, and reports whether err was one. The client raises the
// event once per episode, not once per dropped frame.
func (w *Worker) asyncError(sub *nats.Subscription, err error) bool {
	if sub == nil || !errors.Is(err, nats.ErrSlowConsumer) || !w.isOurs(sub) {
		return false
	}
	w.metrics.slow.Inc()
	dropped, _ := sub.Dropped()
	w.log.Warn().Str("event", "slow_consumer").Str("subject", sub.Subject).Int("dropped", dropped).
		Msg("nats dropped frames: the worker is not keeping up")
	return true
}

// isOurs reports whether sub is one of this worker's queue subscriptions.
// Two workers sharing a connection and a model cannot be told apart here; a
// shared connection is for sfctl dev, where that does not happen.
func (w *Worker) isOurs(sub *nats.Subscription) bool {
	for _, m := range w.models {
		if sub.Queue == w.subjects.InferQueue(m.name) && sub.Subject == w.subjects.InferAll(m.name) {
			return true
		}
	}
	return false
}

// closeConn closes the connection when the worker dialled it.
func (w *Worker) closeConn() {
	if w.ownConn {
		w.nc.Close()
	}
}
