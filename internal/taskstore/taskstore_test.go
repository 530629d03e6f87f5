package taskstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/natsembed"
	"github.com/screenfleet/screenfleet/internal/taskstore"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openStore(t *testing.T) *taskstore.Store {
	t.Helper()
	s, err := natsembed.Start(natsembed.Config{DataDir: t.TempDir()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return openStoreAt(t, s.ClientURL(), 1)
}

func openStoreAt(t *testing.T, url string, replicas int) *taskstore.Store {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := taskstore.Open(testContext(t), js, replicas)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func queued(id string) messages.TaskStatus {
	return messages.TaskStatus{ID: id, State: messages.StateQueued, Attempt: 1, SubmittedAt: time.Now()}
}

func mustCreate(t *testing.T, s *taskstore.Store, st messages.TaskStatus) {
	t.Helper()
	if _, err := s.Create(testContext(t), st); err != nil {
		t.Fatal(err)
	}
}

func mustMove(t *testing.T, s *taskstore.Store, id string, next messages.State) {
	t.Helper()
	if _, err := s.Transition(testContext(t), id, next, nil); err != nil {
		t.Fatal(err)
	}
}

// raceClaims runs n goroutines that each try to move id from queued to
// assigned with their own sandbox name, and returns the winners' names and
// every error that is not the expected stale-transition refusal.
func raceClaims(ctx context.Context, s *taskstore.Store, id string, n int) (winners []string, odd []error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("sb-%d", i)
			_, err := s.Transition(ctx, id, messages.StateAssigned, func(st *messages.TaskStatus) error {
				st.Sandbox = name
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, name)
			case !errors.Is(err, taskstore.ErrStaleTransition):
				odd = append(odd, err)
			}
		})
	}
	wg.Wait()
	return winners, odd
}

func TestRaceQueuedToAssignedHasOneWinner(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	mustCreate(t, s, queued("race"))

	winners, odd := raceClaims(ctx, s, "race", 50)
	if len(odd) > 0 {
		t.Fatalf("unclassified errors: %v", odd)
	}
	if len(winners) != 1 {
		t.Fatalf("winners = %v, want exactly one", winners)
	}
	st, _, err := s.Get(ctx, "race")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != messages.StateAssigned || st.Sandbox != winners[0] {
		t.Fatalf("stored %s on %q, want assigned on %q", st.State, st.Sandbox, winners[0])
	}
}

func TestFinalStatesNeverMove(t *testing.T) {
	for _, final := range []messages.State{messages.StateSucceeded, messages.StateFailed, messages.StateCancelled} {
		t.Run(string(final), func(t *testing.T) {
			s := openStore(t)
			ctx := testContext(t)
			mustCreate(t, s, queued("t1"))
			mustMove(t, s, "t1", messages.StateRunning)
			mustMove(t, s, "t1", final)

			moves := map[string]func(*messages.TaskStatus) error{
				"to failed":  func(st *messages.TaskStatus) error { st.State = messages.StateFailed; return nil },
				"to running": func(st *messages.TaskStatus) error { st.State = messages.StateRunning; return nil },
				"retry": func(st *messages.TaskStatus) error {
					st.State, st.Attempt = messages.StateQueued, st.Attempt+1
					return nil
				},
				"in place": func(st *messages.TaskStatus) error { st.Error = "late"; return nil },
			}
			for name, fn := range moves {
				if _, err := s.Update(ctx, "t1", fn); !errors.Is(err, taskstore.ErrStaleTransition) {
					t.Errorf("%s: err = %v, want ErrStaleTransition", name, err)
				}
			}
			st, _, _ := s.Get(ctx, "t1")
			if st.State != final || st.Error != "" || st.FinishedAt.IsZero() {
				t.Fatalf("final state changed: %+v", st)
			}
		})
	}
}

func TestMovesFollowTheStateMachine(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	mustCreate(t, s, queued("t2"))
	mustMove(t, s, "t2", messages.StateRunning)

	if _, err := s.Transition(ctx, "t2", messages.StateAssigned, nil); !errors.Is(err,
		taskstore.ErrStaleTransition) {
		t.Errorf("running → assigned: err = %v, want ErrStaleTransition", err)
	}
	if _, err := s.Transition(ctx, "t2", messages.StateQueued, nil); !errors.Is(err,
		taskstore.ErrStaleTransition) {
		t.Errorf("retry without a new attempt: err = %v, want ErrStaleTransition", err)
	}
	st, err := s.Transition(ctx, "t2", messages.StateQueued, func(st *messages.TaskStatus) error {
		st.Attempt++
		return nil
	})
	if err != nil || st.Attempt != 2 {
		t.Fatalf("retry: %+v, %v", st, err)
	}
	step := messages.StepResult{Index: 0, Action: messages.ActionClick, OK: true}
	st, err = s.Update(ctx, "t2", func(st *messages.TaskStatus) error {
		st.Steps = append(st.Steps, step)
		return nil
	})
	if err != nil || len(st.Steps) != 1 {
		t.Fatalf("append step in place: %+v, %v", st, err)
	}
}

func TestUpdateReturnsCallbackError(t *testing.T) {
	s := openStore(t)
	mustCreate(t, s, queued("t3"))
	errNo := errors.New("no thanks")
	_, err := s.Update(testContext(t), "t3", func(*messages.TaskStatus) error { return errNo })
	if !errors.Is(err, errNo) {
		t.Fatalf("err = %v, want the callback's", err)
	}
	if _, err := s.Update(testContext(t), "nope",
		func(*messages.TaskStatus) error { return nil }); !errors.Is(err, taskstore.ErrNotFound) {
		t.Fatalf("missing task: err = %v, want ErrNotFound", err)
	}
}

func TestCreateAfterDeleteHasOneWinner(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	mustCreate(t, s, queued("t4"))
	if _, err := s.Create(ctx, queued("t4")); !errors.Is(err, taskstore.ErrExists) {
		t.Fatalf("second create: err = %v, want ErrExists", err)
	}
	if err := s.Delete(ctx, "t4"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, "t4"); !errors.Is(err, taskstore.ErrNotFound) {
		t.Fatalf("get after delete: err = %v, want ErrNotFound", err)
	}

	var mu sync.Mutex
	var wins int
	var odd []error
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			_, err := s.Create(ctx, queued("t4"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, taskstore.ErrExists):
				odd = append(odd, err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || len(odd) > 0 {
		t.Fatalf("creators after delete: %d won, unclassified errors %v; want exactly one winner", wins, odd)
	}
}

func TestIsConflict(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"key exists", jetstream.ErrKeyExists, true},
		{"revision mismatch", fmt.Errorf("update: %w", jetstream.ErrKeyRevisionMismatch), true},
		{"raw 10071", &jetstream.APIError{ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence, Code: 400}, true},
		{"raw 10164 wrapped", fmt.Errorf("x: %w",
			&jetstream.APIError{ErrorCode: jetstream.JSErrCodeStreamWrongLastSequenceConstant, Code: 400}), true},
		{"other api error", &jetstream.APIError{ErrorCode: jetstream.JSErrCodeStreamNotFound, Code: 404}, false},
		{"timeout", context.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		if got := taskstore.IsConflict(tt.err); got != tt.want {
			t.Errorf("%s: IsConflict = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestWatchEndsAtFinalState(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	mustCreate(t, s, queued("t5"))
	ch, err := s.Watch(ctx, "t5")
	if err != nil {
		t.Fatal(err)
	}
	for _, next := range []messages.State{messages.StateAssigned, messages.StateRunning, messages.StateSucceeded} {
		mustMove(t, s, "t5", next)
	}
	var got []messages.State
	for st := range ch {
		got = append(got, st.State)
	}
	want := fmt.Sprint([]messages.State{"queued", "assigned", "running", "succeeded"})
	if fmt.Sprint(got) != want {
		t.Fatalf("watched %v, want %v", got, want)
	}
}
