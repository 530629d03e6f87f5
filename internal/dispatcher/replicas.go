package dispatcher

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/internal/recording"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// ErrReplicas means the replica count the dispatcher was given does not fit
// the streams it found or the NATS servers it reached.
var ErrReplicas = errors.New("replicas do not fit")

// Server error codes that come from asking for more replicas than the
// servers can hold (nats-server errors.json).
const (
	codeNoPeers              = 10005 // no servers to place the replicas on
	codeInsufficientResource = 10023 // fewer JetStream servers than replicas
	codeReplicasNotSupported = 10074 // a single server, not a cluster
)

// streamReplicas names each stream the dispatcher makes and the replica
// count it wants for it.
func (d *Dispatcher) streamReplicas() map[string]int {
	want := map[string]int{
		messages.TasksStream:           d.cfg.Replicas,
		DeadStream:                     d.cfg.Replicas,
		"KV_" + messages.TasksBucket:   d.cfg.Replicas,
		"OBJ_" + messages.FramesBucket: d.cfg.Replicas,
		messages.FramesStream:          d.cfg.Recording.Replicas,
		messages.RecordsStream:         d.cfg.Recording.Replicas,
	}
	if d.cfg.Recording.Mode == recording.ModeOff {
		delete(want, messages.FramesStream)
		delete(want, messages.RecordsStream)
	}
	return want
}

// checkReplicas compares the replicas of the streams that exist with the
// ones asked for. Fewer replicas are raised by the updates that follow, and
// logged; more are refused, since a dispatcher started without --replicas
// must not quietly take a fleet's replication away.
func (d *Dispatcher) checkReplicas(ctx context.Context) error {
	for name, want := range d.streamReplicas() {
		s, err := d.js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("dispatcher: stream %s: %w", name, err)
		}
		have := s.CachedInfo().Config.Replicas
		switch {
		case have > want:
			return fmt.Errorf("dispatcher: %w: stream %s has %d replicas, more than the %d asked for; "+
				"start the dispatcher with --replicas %d as the others, or lower them by hand "+
				"(nats stream edit %s --replicas %d)", ErrReplicas, name, have, want, have, name, want)
		case have < want:
			d.log.Warn().Str("event", "stream_replicas_raised").Str("stream", name).Int("replicas_was", have).
				Int("replicas", want).Msg("raising the stream's replicas")
		}
	}
	return nil
}

// explainReplicas adds what to do to a server error that says the servers
// cannot hold the replicas asked for.
func (d *Dispatcher) explainReplicas(err error) error {
	var apiErr *jetstream.APIError
	if d.cfg.Replicas <= 1 || !errors.As(err, &apiErr) {
		return err
	}
	switch apiErr.ErrorCode {
	case codeReplicasNotSupported:
		return fmt.Errorf("dispatcher: %w: --replicas %d needs a NATS cluster, and the server is a "+
			"single one (use --replicas 1, or see deploy/CLUSTER.md): %w", ErrReplicas, d.cfg.Replicas, err)
	case codeInsufficientResource, codeNoPeers:
		return fmt.Errorf("dispatcher: %w: --replicas %d needs that many JetStream servers in the "+
			"cluster, up and with room: %w", ErrReplicas, d.cfg.Replicas, err)
	}
	return err
}
