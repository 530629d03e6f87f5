package dispatcher

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// setupPatience bounds how long start-up retries making its streams
	// when the servers do not answer in time. Two dispatchers that create
	// the same replicated stream at once can both go unanswered although
	// the stream is made (seen here with nats-server 2.15; nats-server
	// issues #3677 and #8350), and a cluster still electing its JetStream
	// leader, or with a node restarting, answers late or not at all.
	setupPatience = 2 * time.Minute

	// setupTryTimeout bounds one try, so that a request left unanswered
	// costs this much and not the caller's whole deadline; it is nats.go's
	// own default for one request. A try is a dozen small requests, and
	// what an earlier try made is found at once, so tries make progress.
	setupTryTimeout = 5 * time.Second

	// setupRetryPause separates two tries, with up to as much again at
	// random so that dispatchers started together fall out of step
	// instead of colliding on the next stream too.
	setupRetryPause = time.Second

	// codeClusterNotAvailable is the server's "JetStream system
	// temporarily unavailable": no meta leader yet.
	codeClusterNotAvailable = 10008
)

// setup checks the replicas of the streams that exist, then makes what the
// dispatcher needs on the server, trying again for a while when the
// servers did not answer.
func (d *Dispatcher) setup(ctx context.Context) error {
	deadline := time.Now().Add(setupPatience)
	for try := 1; ; try++ {
		err := d.setupOnce(ctx)
		if err == nil || !transientSetupError(err) || ctx.Err() != nil || time.Now().After(deadline) {
			return d.explainReplicas(err)
		}
		d.log.Warn().Str("event", "setup_retry").Int("try", try).Err(err).
			Msg("the NATS servers did not answer in time; trying again")
		if !sleepCtx(ctx, setupRetryPause+rand.N(setupRetryPause)) {
			return err
		}
	}
}

func (d *Dispatcher) setupOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, setupTryTimeout)
	defer cancel()
	if err := d.checkReplicas(ctx); err != nil {
		return err
	}
	return d.makeStreams(ctx)
}

// transientSetupError reports whether err may go away by itself: a request
// that went unanswered, or a cluster without a leader or short of servers
// for the moment.
func transientSetupError(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) {
		return true
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case codeClusterNotAvailable, codeInsufficientResource, codeNoPeers:
		return true
	}
	return false
}
