//go:build linux

package sandbox

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// orphanScript leaves 200 short-lived grandchildren behind: each subshell
// exits at once, and its sleep is reparented to the container's PID 1.
const orphanScript = `for i in $(seq 200); do (sleep 0.2 &); done`

// C21: the script, exec'd in a running sandbox, leaves 200 orphans; the
// container's init reaps them, so within 5 s of the script's end they are
// gone and Health counts no zombie. Health also reports the 1 GiB /dev/shm.
// The same script in a container without init leaves 200 zombies, which
// Health counts, and shows Docker's 64 MiB /dev/shm: the checks can fail.
func TestDockerInitReapsOrphansC21(t *testing.T) {
	rt := runtimeForTest(t, DockerConfig{})
	sb := startForTest(t, rt, "sb-zombies-"+shortTestID(), "exec sleep 600").(*dockerSandbox)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	h, err := sb.Health(ctx)
	if err != nil || h.ShmBytes != DefaultShmSize {
		t.Fatalf("health %+v, error %v; want /dev/shm of %d bytes", h, err, int64(DefaultShmSize))
	}
	before := processCount(ctx, t, rt, sb.container)
	execScript(ctx, t, rt, sb.container, orphanScript)
	waitFor(t, "the orphans to end and be reaped", 5*time.Second, func() bool {
		h, err := sb.Health(ctx)
		return err == nil && h.Zombies == 0 && processCount(ctx, t, rt, sb.container) == before
	})

	control := &dockerSandbox{rt: rt, id: "no-init", container: startWithoutInit(ctx, t, rt)}
	execScript(ctx, t, rt, control.container, orphanScript)
	var last Health
	waitFor(t, "200 zombies without init", 30*time.Second, func() bool {
		last, err = control.Health(ctx)
		return err == nil && last.Zombies == 200
	})
	if last.ShmBytes != 64<<20 {
		t.Errorf("control's /dev/shm: %d bytes, want Docker's default 64 MiB", last.ShmBytes)
	}
}

// processCount is how many live processes the engine lists in the
// container (zombies have left its cgroup and are not listed).
func processCount(ctx context.Context, t *testing.T, rt *Docker, id string) int {
	t.Helper()
	top, err := rt.api.(*client.Client).ContainerTop(ctx, id, []string{"-o", "pid,stat"})
	if err != nil {
		t.Fatalf("top: %v", err)
	}
	return len(top.Processes)
}

// execScript runs script with sh in the container and waits for its end.
func execScript(ctx context.Context, t *testing.T, rt *Docker, id, script string) {
	t.Helper()
	cli := rt.api.(*client.Client)
	ex, err := cli.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: []string{"sh", "-c", script}})
	if err != nil {
		t.Fatalf("exec create: %v", err)
	}
	if err := cli.ContainerExecStart(ctx, ex.ID, container.ExecStartOptions{Detach: true}); err != nil {
		t.Fatalf("exec start: %v", err)
	}
	waitFor(t, "the exec'd script to end", time.Minute, func() bool {
		info, err := cli.ContainerExecInspect(ctx, ex.ID)
		if err != nil {
			t.Fatalf("exec inspect: %v", err)
		}
		if !info.Running && info.ExitCode != 0 {
			t.Fatalf("script exited with %d", info.ExitCode)
		}
		return !info.Running
	})
}

// startWithoutInit runs the test image as PID 1 itself ("exec sleep"),
// which reaps nothing, and removes it when the test ends.
func startWithoutInit(ctx context.Context, t *testing.T, rt *Docker) string {
	t.Helper()
	noInit := false
	c, err := rt.api.ContainerCreate(ctx, &container.Config{Image: testImage,
		Env: []string{"SF_TEST_CMD=exec sleep 600"}, Labels: map[string]string{"io.screenfleet.test": "no-init"}},
		&container.HostConfig{Init: &noInit, NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() {
		_ = rt.api.ContainerRemove(context.WithoutCancel(ctx), c.ID, container.RemoveOptions{Force: true})
	})
	if err := rt.api.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start: %v", err)
	}
	return c.ID
}
