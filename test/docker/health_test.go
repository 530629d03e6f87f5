package dockertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/internal/sandbox"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// C21 in a real sandbox: while a task runs, the dispatcher's listing
// reports the container's health (no zombies, the 1 GiB /dev/shm); a script
// exec'd in it leaves 200 orphaned, short-lived grandchildren, and within
// 5 s of its end the container's init has reaped every one.
func TestSandboxReapsOrphansAndReportsHealthC21(t *testing.T) {
	id := taskID("health")
	startDispatcher(t, "d-health", 1)
	submitWaiting(t, id)
	c := taskContainer(t, dispatcherID("d-health"), id, "1")
	waitState(t, id, taskLimit, func(st messages.TaskStatus) bool { return st.State == messages.StateRunning })

	var info messages.SandboxInfo
	waitFor(t, "the sandbox's health in the listing", 30*time.Second, func(ctx context.Context) bool {
		info = listedSandbox(ctx, t, id)
		return info.Zombies != nil
	})
	if *info.Zombies != 0 || info.ShmBytes != sandbox.DefaultShmSize {
		t.Errorf("listed health: %d zombies, shm %d; want 0 and %d", *info.Zombies, info.ShmBytes,
			int64(sandbox.DefaultShmSize))
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	execAndWait(ctx, t, c.ID, `for i in $(seq 200); do (sleep 0.2 &); done`)
	waitFor(t, "the 200 orphans reaped", 5*time.Second, func(ctx context.Context) bool {
		sleeping, zombies := orphansLeft(ctx, t, c.ID)
		return sleeping == 0 && zombies == 0
	})
}

// submitWaiting submits a task whose first step waits for a text that never
// shows, so that its sandbox stays up for the test.
func submitWaiting(t *testing.T, id string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{
		"id": id, "deadline": "4m",
		"app": map[string]any{"command": []string{"firefox-esr", "--kiosk", shared.siteURL + "/buttons.html"},
			"width": 1280, "height": 800},
		"steps": []map[string]any{{"action": "wait_for", "target": map[string]any{"text": "Never shown"},
			"timeout": "3m"}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := shared.js.Publish(ctx, messages.NewSubjects("").TaskSubmit(), b,
		jetstream.WithMsgID(id)); err != nil {
		t.Fatalf("publish %s: %v", id, err)
	}
}

// listedSandbox asks the dispatchers for their sandboxes and returns the
// one running task.
func listedSandbox(ctx context.Context, t *testing.T, task string) messages.SandboxInfo {
	t.Helper()
	msg, err := shared.nc.RequestWithContext(ctx, messages.NewSubjects("").SandboxList(), nil)
	if err != nil {
		return messages.SandboxInfo{}
	}
	var l messages.SandboxList
	if err := messages.Decode(msg.Data, &l); err != nil {
		t.Fatal(err)
	}
	for _, s := range l.Sandboxes {
		if s.Task == task {
			return s
		}
	}
	return messages.SandboxInfo{}
}

// execAndWait runs script with sh in the container, as its user, waits for
// its end and returns what it printed.
func execAndWait(ctx context.Context, t *testing.T, id, script string) string {
	t.Helper()
	cli := shared.docker
	ex, err := cli.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: []string{"sh", "-c", script},
		AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatalf("exec create: %v", err)
	}
	att, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		t.Fatalf("exec attach: %v", err)
	}
	defer att.Close()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader); err != nil {
		t.Fatalf("exec output: %v", err)
	}
	info, err := cli.ContainerExecInspect(ctx, ex.ID)
	if err != nil || info.Running || info.ExitCode != 0 {
		t.Fatalf("script %q: %+v, %v: %s", script, info, err, stderr.String())
	}
	return stdout.String()
}

// orphansLeft counts, from inside the container, the script's sleep
// processes and the zombies. The engine's process listing cannot: a
// process leaves the container's cgroup when it exits.
func orphansLeft(ctx context.Context, t *testing.T, id string) (sleeping, zombies int) {
	t.Helper()
	out := execAndWait(ctx, t, id,
		`grep -l '^Name:[[:space:]]*sleep$' /proc/[0-9]*/status 2>/dev/null | wc -l; `+
			`grep -l '^State:[[:space:]]*Z' /proc/[0-9]*/status 2>/dev/null | wc -l`)
	if _, err := fmt.Sscan(out, &sleeping, &zombies); err != nil {
		t.Fatalf("count orphans: %q: %v", out, err)
	}
	return sleeping, zombies
}
