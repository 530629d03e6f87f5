// Package taskstore keeps each task's state in the JetStream KV bucket
// sf_tasks and moves it forward only with revision-checked writes, so that
// two dispatchers racing for one task cannot both win, and a final state
// never changes.
package taskstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Errors returned by the store. They are categories: match with errors.Is.
var (
	// ErrNotFound means the bucket holds no live value for the task.
	ErrNotFound = errors.New("task not found")
	// ErrExists means Create found a live value for the task.
	ErrExists = errors.New("task already exists")
	// ErrStaleTransition means the write would move the task backwards, out
	// of a final state, or into the state it is already in (someone else
	// got there first).
	ErrStaleTransition = errors.New("stale task state transition")
)

const (
	// history keeps the last revisions of each task, so that a watcher that
	// falls behind (or a person with `nats kv history`) sees every step of
	// a short task's life.
	history = 16

	// maxConflictRetries bounds Update's read-modify-write loop. Writers
	// of one task are its dispatcher and the occasional sfctl cancel, so a
	// handful of retries is plenty; a hundred means something is spinning.
	maxConflictRetries = 100
)

// Store reads and writes task states.
type Store struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// Open creates the bucket, or updates its configuration, and returns a store
// on it. replicas below 1 means 1.
func Open(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	if replicas < 1 {
		replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      messages.TasksBucket,
		Description: "screenfleet task states (msgpack messages.TaskStatus)",
		History:     history,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", messages.TasksBucket, err)
	}
	return New(kv), nil
}

// New returns a store on a bucket the caller opened.
func New(kv jetstream.KeyValue) *Store {
	return &Store{kv: kv, now: time.Now}
}

// Get returns the task's state and its revision, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (messages.TaskStatus, uint64, error) {
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return messages.TaskStatus{}, 0, fmt.Errorf("get task %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return messages.TaskStatus{}, 0, fmt.Errorf("get task %s: %w", id, err)
	}
	var st messages.TaskStatus
	if err := messages.Decode(e.Value(), &st); err != nil {
		return messages.TaskStatus{}, 0, fmt.Errorf("get task %s: %w", id, err)
	}
	return st, e.Revision(), nil
}

// Create writes the first state of a task and returns its revision. It fails
// with ErrExists when the task already has a live value. A key that was
// deleted is taken over through a write guarded by the delete marker's
// revision, so two creators racing after a delete cannot both succeed.
func (s *Store) Create(ctx context.Context, st messages.TaskStatus) (uint64, error) {
	st.V = messages.Version
	if st.UpdatedAt.IsZero() {
		st.UpdatedAt = s.now()
	}
	b, err := messages.Encode(st)
	if err != nil {
		return 0, fmt.Errorf("create task %s: %w", st.ID, err)
	}
	rev, err := s.kv.Create(ctx, st.ID, b)
	if IsConflict(err) {
		return 0, fmt.Errorf("create task %s: %w", st.ID, ErrExists)
	}
	if err != nil {
		return 0, fmt.Errorf("create task %s: %w", st.ID, err)
	}
	return rev, nil
}

// Update reads the task, lets fn change it, checks that the change is a
// legal move (see CheckMove) and writes it guarded by the revision it read.
// When another writer got in between, it reads again and calls fn again.
// An error from fn aborts the update and is returned wrapped. Update returns
// the state it wrote.
func (s *Store) Update(ctx context.Context, id string,
	fn func(*messages.TaskStatus) error) (messages.TaskStatus, error) {
	for range maxConflictRetries {
		cur, rev, err := s.Get(ctx, id)
		if err != nil {
			return messages.TaskStatus{}, fmt.Errorf("update: %w", err)
		}
		next, err := s.apply(cur, fn)
		if err != nil {
			return messages.TaskStatus{}, fmt.Errorf("update task %s: %w", id, err)
		}
		b, err := messages.Encode(next)
		if err != nil {
			return messages.TaskStatus{}, fmt.Errorf("update task %s: %w", id, err)
		}
		_, err = s.kv.Update(ctx, id, b, rev)
		if err == nil {
			return next, nil
		}
		if !IsConflict(err) {
			return messages.TaskStatus{}, fmt.Errorf("update task %s: %w", id, err)
		}
		if err := ctx.Err(); err != nil {
			return messages.TaskStatus{}, fmt.Errorf("update task %s: %w", id, err)
		}
	}
	return messages.TaskStatus{}, fmt.Errorf("update task %s: still conflicting after %d tries", id,
		maxConflictRetries)
}

// Transition is Update for a change of state: it sets the state to next
// after fn has run, and fails with ErrStaleTransition when the task is
// already in next (another writer made the move first) or cannot move there.
// fn may be nil.
func (s *Store) Transition(ctx context.Context, id string, next messages.State,
	fn func(*messages.TaskStatus) error) (messages.TaskStatus, error) {
	return s.Update(ctx, id, func(st *messages.TaskStatus) error {
		if st.State == next {
			return fmt.Errorf("%w: task is already %s", ErrStaleTransition, next)
		}
		if fn != nil {
			if err := fn(st); err != nil {
				return err
			}
		}
		st.State = next
		return nil
	})
}

func (s *Store) apply(cur messages.TaskStatus,
	fn func(*messages.TaskStatus) error) (messages.TaskStatus, error) {
	next := cur
	next.Steps = append([]messages.StepResult(nil), cur.Steps...)
	next.Seen = append([]string(nil), cur.Seen...)
	if err := fn(&next); err != nil {
		return messages.TaskStatus{}, err
	}
	if err := CheckMove(cur, next); err != nil {
		return messages.TaskStatus{}, err
	}
	next.ID = cur.ID
	next.V = messages.Version
	next.UpdatedAt = s.now()
	if next.State.Final() && next.FinishedAt.IsZero() {
		next.FinishedAt = next.UpdatedAt
	}
	return next, nil
}

// CheckMove reports, as an error wrapping ErrStaleTransition, why a task
// may not go from cur to next. A final state never changes; a state may be
// rewritten in place (to add steps); a move forward follows
// messages.State.CanMoveTo; a move back to queued is a retry and must raise
// the attempt.
func CheckMove(cur, next messages.TaskStatus) error {
	switch {
	case cur.State.Final():
		return fmt.Errorf("%w: task %s is %s, a final state", ErrStaleTransition, cur.ID, cur.State)
	case next.State == cur.State:
		return nil
	}
	retry := next.State == messages.StateQueued
	if !cur.State.CanMoveTo(next.State, retry) {
		return fmt.Errorf("%w: task %s cannot move from %s to %s", ErrStaleTransition, cur.ID, cur.State,
			next.State)
	}
	if retry && next.Attempt <= cur.Attempt {
		return fmt.Errorf("%w: task %s retry must raise attempt %d, got %d",
			ErrStaleTransition, cur.ID, cur.Attempt, next.Attempt)
	}
	return nil
}

// IsConflict reports whether err is a revision conflict of a KV write: the
// client's sentinels, or the raw API error with code 10071 (single replica)
// or 10164 (replicated buckets), which some code paths return unwrapped.
func IsConflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}
