package dispatcher_test

import (
	"testing"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// C21: the sandbox listing carries each sandbox's own health report.
func TestSandboxListReportsHealth(t *testing.T) {
	e := newEnv(t)
	rt := newFakeRuntime(t, e.url, always(agentHang))
	e.start(e.config(rt))

	e.submit(taskJSON("health-1", 2, ""), "health-1")
	e.waitState("health-1", messages.StateRunning, 10*time.Second)
	var l messages.SandboxList
	waitFor(t, "sandbox listed as running", 5*time.Second, func() bool {
		l = e.listSandboxes()
		return len(l.Sandboxes) == 1 && l.Sandboxes[0].State == messages.SandboxRunning
	})
	sb := l.Sandboxes[0]
	if sb.Zombies == nil || *sb.Zombies != fakeZombies || sb.ShmBytes != 1<<30 {
		t.Errorf("listing health: zombies %v, shm %d; want %d and 1 GiB", sb.Zombies, sb.ShmBytes, fakeZombies)
	}
}
