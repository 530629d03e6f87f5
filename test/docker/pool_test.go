package dockertest

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/screenfleet/screenfleet/internal/sandbox"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// warmContainers lists the dispatcher's running containers that no task
// has taken yet.
func warmContainers(ctx context.Context, dispatcherID string) []container.Summary {
	var out []container.Summary
	for _, c := range shared.containers(ctx, dispatcherID) {
		if c.Labels[sandbox.LabelTask] == "" && c.State == "running" {
			out = append(out, c)
		}
	}
	return out
}

func TestWarmPoolTakesTheTaskAndRefills(t *testing.T) {
	id := dispatcherID("d-pool")
	d := startDispatcher(t, "d-pool", 2, "--min-idle", "1")
	var warm container.Summary
	waitFor(t, "a warm sandbox", 2*time.Minute, func(ctx context.Context) bool {
		list := warmContainers(ctx, id)
		if len(list) > 0 {
			warm = list[0]
		}
		return len(list) == 1
	})
	// Give its agent the time to connect, as a pool does between tasks.
	time.Sleep(3 * time.Second)

	task := taskID("pool")
	began := time.Now()
	submit(t, task)
	running := waitState(t, task, taskLimit, func(st messages.TaskStatus) bool {
		return st.State == messages.StateRunning || st.State.Final()
	})
	toRunning := time.Since(began)
	st := waitState(t, task, taskLimit, final)
	requireSucceeded(t, st)
	if want := warm.Labels[sandbox.LabelSandbox]; st.Sandbox != want {
		t.Errorf("task ran in %s, want the warm sandbox %s", st.Sandbox, want)
	}
	t.Logf("timings with a warm sandbox: submit to agent accepted (state %s) %s, submit to succeeded %s",
		running.State, toRunning.Round(10*time.Millisecond), time.Since(began).Round(10*time.Millisecond))

	waitFor(t, "the pool refilled", 2*time.Minute, func(ctx context.Context) bool {
		list := warmContainers(ctx, id)
		return len(list) == 1 && list[0].ID != warm.ID
	})
	d.stop()
	waitFor(t, "warm sandboxes removed at shutdown", time.Minute, func(ctx context.Context) bool {
		return len(shared.containers(ctx, id)) == 0
	})
}
