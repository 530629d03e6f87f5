package dockertest

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

func TestKilledContainerIsRetried(t *testing.T) {
	id := taskID("killed")
	startDispatcher(t, "d-killed", 2)
	h := watchTask(t, id)
	submit(t, id)
	c := taskContainer(t, dispatcherID("d-killed"), id, "1")
	waitState(t, id, taskLimit, func(st messages.TaskStatus) bool { return st.State == messages.StateRunning })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := shared.docker.ContainerKill(ctx, c.ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, id, taskLimit, final)
	requireSucceeded(t, st)
	if st.Attempt != 2 {
		t.Errorf("succeeded at attempt %d, want 2", st.Attempt)
	}
	reasons := strings.Join(h.errors(), "; ")
	if !strings.Contains(reasons, "exited with code 137") {
		t.Errorf("retry reasons %q do not say the container exited with code 137", reasons)
	}
}

func TestRestartedDispatcherRemovesOrphanAndFinishesTask(t *testing.T) {
	id := taskID("orphan")
	first := startDispatcher(t, "d-orphan-1", 2)
	submit(t, id)
	orphan := taskContainer(t, dispatcherID("d-orphan-1"), id, "1")
	waitState(t, id, taskLimit, func(st messages.TaskStatus) bool { return st.State == messages.StateRunning })
	first.kill()

	// A new id, as a dispatcher restarted without --id gets: the orphan is
	// recognised through the task's state, once the task has moved on.
	startDispatcher(t, "d-orphan-2", 2)
	waitFor(t, "orphaned container removed", 4*time.Minute, func(ctx context.Context) bool {
		_, err := shared.docker.ContainerInspect(ctx, orphan.ID)
		return err != nil && strings.Contains(strings.ToLower(err.Error()), "no such container")
	})
	st := waitState(t, id, taskLimit, final)
	requireSucceeded(t, st)
	if st.Attempt < 2 || st.Dispatcher != dispatcherID("d-orphan-2") {
		t.Errorf("finished at attempt %d by %q, want a later attempt by d-orphan-2", st.Attempt, st.Dispatcher)
	}
	waitFor(t, "no containers left", time.Minute, func(ctx context.Context) bool {
		return len(shared.containers(ctx, dispatcherID("d-orphan-1")))+len(shared.containers(ctx,
			dispatcherID("d-orphan-2"))) == 0
	})
}

func TestFourTasksNeverMoreThanTwoContainers(t *testing.T) {
	startDispatcher(t, "d-capacity", 2)
	var most atomic.Int32
	ctx, stop := context.WithCancel(context.Background())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for ctx.Err() == nil {
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			n := int32(len(shared.containers(lctx, dispatcherID("d-capacity"))))
			cancel()
			if n > most.Load() {
				most.Store(n)
			}
			time.Sleep(100 * time.Millisecond) // sampling interval
		}
	}()

	ids := make([]string, 4)
	for i := range ids {
		ids[i] = taskID("capacity")
		submit(t, ids[i])
	}
	for _, id := range ids {
		requireSucceeded(t, waitState(t, id, 2*taskLimit, final))
	}
	stop()
	<-sampled
	if most.Load() > 2 {
		t.Errorf("saw %d containers at once, want at most 2", most.Load())
	}
	if most.Load() < 2 {
		t.Logf("at most %d container at once: the tasks did not overlap", most.Load())
	}
}
