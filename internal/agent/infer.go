package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/screenfleet/screenfleet/internal/framestore"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// noWorkerBackoffMin/Max space the retries while no worker listens for
	// a model: often enough to pick up a worker that starts within a second,
	// rarely enough not to hammer the server from a fleet of agents.
	noWorkerBackoffMin = 100 * time.Millisecond
	noWorkerBackoffMax = 500 * time.Millisecond

	// timeoutJitterMax spreads the retries of requests that timed out
	// together (a worker went away) so they do not arrive as one burst.
	timeoutJitterMax = 50 * time.Millisecond
)

// Reasons an attempt failed, in the chain of the error attempt returns.
var (
	errNoResponders = errors.New("no responders")
	errNoReply      = errors.New("no reply")
)

// inferClient sends frames to the workers of a model and waits for their
// detections. Core NATS request/reply is at-most-once: a request can be
// lost when a worker leaves, so every attempt has a timeout and is retried
// until the caller's context ends.
type inferClient struct {
	nc      *nats.Conn
	frames  *framestore.Store // frames over max_payload go by reference; nil: they fail
	timeout time.Duration     // per attempt
	metrics *metrics
}

// request sends payload, the encoded frame with sequence seq, on subject to
// model's workers and returns their detections. A frame over the server's
// max_payload goes with its data in the object store, by reference (C14);
// one that cannot fails at once with an error wrapping
// messages.ErrFrameTooLarge. No responders and timeouts are retried until
// ctx ends; the error then says which it was (messages.ErrBackendNotReady
// when no worker listened).
func (c *inferClient) request(ctx context.Context, model, subject string, payload []byte,
	seq uint64) (*messages.Detections, error) {
	return c.requestMsg(ctx, model, &nats.Msg{Subject: subject, Data: payload}, seq)
}

// requestMsg is request for a message that may carry headers, which count
// against max_payload too.
func (c *inferClient) requestMsg(ctx context.Context, model string, msg *nats.Msg,
	seq uint64) (*messages.Detections, error) {
	if limit := c.nc.MaxPayload(); wireSize(msg) > limit {
		name, err := c.byReference(ctx, msg, seq, limit)
		if err != nil {
			c.metrics.infer.WithLabelValues(inferTooLarge).Inc()
			return nil, err
		}
		defer c.forget(ctx, name)
	}
	attempts := 0
	for {
		attempts++
		det, err := c.attempt(ctx, msg, seq)
		if err == nil {
			return det, nil
		}
		wait, retry := retryAfter(err)
		if !retry {
			return nil, err
		}
		if ctx.Err() != nil || sleep(ctx, wait) != nil {
			return nil, giveUp(err, model, attempts, c.timeout)
		}
	}
}

// attempt makes one request. Its error wraps errNoResponders, errNoReply,
// or the error the worker replied with.
func (c *inferClient) attempt(ctx context.Context, req *nats.Msg, seq uint64) (*messages.Detections, error) {
	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	msg, err := c.nc.RequestMsgWithContext(reqCtx, req)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		c.metrics.infer.WithLabelValues(inferNoResponders).Inc()
		return nil, errNoResponders
	case err != nil && reqCtx.Err() != nil:
		c.metrics.infer.WithLabelValues(inferTimeout).Inc()
		return nil, errNoReply
	case err != nil:
		c.metrics.infer.WithLabelValues(inferFailed).Inc()
		return nil, fmt.Errorf("%w: request on %s: %w", messages.ErrInferFailed, req.Subject, err)
	}
	return c.decode(msg.Data, seq)
}

func (c *inferClient) decode(data []byte, seq uint64) (*messages.Detections, error) {
	var det messages.Detections
	start := time.Now()
	if err := messages.Decode(data, &det); err != nil {
		c.metrics.infer.WithLabelValues(inferFailed).Inc()
		return nil, fmt.Errorf("%w: bad reply: %w", messages.ErrInferFailed, err)
	}
	c.metrics.observe(stageDecode, start)
	if err := det.Err(); err != nil {
		c.metrics.infer.WithLabelValues(inferErrorReply).Inc()
		return nil, err
	}
	if det.Seq != seq {
		c.metrics.infer.WithLabelValues(inferFailed).Inc()
		return nil, fmt.Errorf("%w: reply is for frame %d, not %d", messages.ErrInferFailed, det.Seq, seq)
	}
	c.metrics.infer.WithLabelValues(inferOK).Inc()
	return &det, nil
}

// retryAfter says whether an attempt's error is worth another attempt and
// after how long. Timeouts go again at once (the queue group picks another
// worker); a missing or unready worker is given a moment to appear. A bad
// frame, an unknown model or a failing connection would fail the same way.
func retryAfter(err error) (time.Duration, bool) {
	switch {
	case errors.Is(err, errNoReply):
		return rand.N(timeoutJitterMax), true
	case errors.Is(err, errNoResponders), errors.Is(err, messages.ErrBackendNotReady):
		return noWorkerBackoffMin + rand.N(noWorkerBackoffMax-noWorkerBackoffMin), true
	}
	return 0, false
}

// giveUp turns the last attempt's error into the request's error once the
// caller's time is up.
func giveUp(last error, model string, attempts int, timeout time.Duration) error {
	switch {
	case errors.Is(last, errNoResponders):
		return messages.Errorf(messages.CodeBackendNotReady, "no inference worker for model %q", model)
	case errors.Is(last, errNoReply):
		return messages.Errorf(messages.CodeInferFailed,
			"no reply from the workers of model %q (%d attempts, %s each)", model, attempts, timeout)
	}
	return last
}

// sleep waits for d or until ctx ends, and returns ctx's error if it ended.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
