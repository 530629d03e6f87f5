package taskstore

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Watch sends the task's current state, if it has one, and then every new
// state as it is written. The channel closes after a final state, when ctx
// ends, or when the watch fails. Values that cannot be decoded and delete
// markers are skipped.
func (s *Store) Watch(ctx context.Context, id string) (<-chan messages.TaskStatus, error) {
	w, err := s.kv.Watch(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("watch task %s: %w", id, err)
	}
	out := make(chan messages.TaskStatus, 1)
	go func() {
		defer close(out)
		defer func() { _ = w.Stop() }()
		forward(ctx, w.Updates(), out)
	}()
	return out, nil
}

func forward(ctx context.Context, in <-chan jetstream.KeyValueEntry, out chan<- messages.TaskStatus) {
	for {
		var e jetstream.KeyValueEntry
		var ok bool
		select {
		case <-ctx.Done():
			return
		case e, ok = <-in:
		}
		switch {
		case !ok:
			return
		case e == nil || e.Operation() != jetstream.KeyValuePut:
			continue // nil marks the end of the initial values
		}
		var st messages.TaskStatus
		if messages.Decode(e.Value(), &st) != nil {
			continue
		}
		select {
		case out <- st:
		case <-ctx.Done():
			return
		}
		if st.State.Final() {
			return
		}
	}
}

// Delete removes the task's value, leaving a delete marker. A later Create
// of the same id succeeds once.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.kv.Delete(ctx, id); err != nil {
		return fmt.Errorf("delete task %s: %w", id, err)
	}
	return nil
}
