package dockertest

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/screenfleet/screenfleet/internal/sandbox"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// taskLimit bounds one task's run here: Firefox starts in a container on
// a small, shared CI machine, and OCR runs on its CPU.
const taskLimit = 4 * time.Minute

// taskContainer waits for the container of the task's attempt.
func taskContainer(t *testing.T, dispatcherID, task string, attempt string) container.Summary {
	t.Helper()
	var found container.Summary
	waitFor(t, "container of "+task+" attempt "+attempt, 2*time.Minute, func(ctx context.Context) bool {
		for _, c := range shared.containers(ctx, dispatcherID) {
			if c.Labels[sandbox.LabelTask] == task && c.Labels[sandbox.LabelAttempt] == attempt {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

func TestTaskRunsInAHardenedContainer(t *testing.T) {
	id := taskID("hardened")
	startDispatcher(t, "d-hardened", 2)
	began := time.Now()
	submit(t, id)
	c := taskContainer(t, dispatcherID("d-hardened"), id, "1")
	created := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := shared.docker.ContainerInspect(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkHardening(t, info)
	checkVNC(t, info)

	running := waitState(t, id, taskLimit, func(st messages.TaskStatus) bool {
		return st.State != messages.StateQueued && st.State != messages.StateAssigned
	})
	ready := time.Now()
	st := waitState(t, id, taskLimit, final)
	requireSucceeded(t, st)
	t.Logf("timings: submit to container %s, container to agent accepted (state %s) %s, submit to succeeded %s",
		created.Sub(began).Round(10*time.Millisecond), running.State, ready.Sub(created).Round(10*time.Millisecond),
		time.Since(began).Round(10*time.Millisecond))
	waitFor(t, "container removed", time.Minute, func(ctx context.Context) bool {
		return len(shared.containers(ctx, dispatcherID("d-hardened"))) == 0
	})
}

// checkHardening asserts the limits and security settings of a sandbox.
func checkHardening(t *testing.T, info container.InspectResponse) {
	t.Helper()
	h := info.HostConfig
	if h.Memory != sandbox.DefaultMemory || h.MemorySwap != sandbox.DefaultMemory {
		t.Errorf("memory %d, swap %d; want %d for both", h.Memory, h.MemorySwap, int64(sandbox.DefaultMemory))
	}
	if h.NanoCPUs != int64(sandbox.DefaultCPUs*1e9) {
		t.Errorf("NanoCPUs %d", h.NanoCPUs)
	}
	if h.PidsLimit == nil || *h.PidsLimit != sandbox.DefaultPidsLimit {
		t.Errorf("PidsLimit %v", h.PidsLimit)
	}
	if h.ShmSize != sandbox.DefaultShmSize {
		t.Errorf("ShmSize %d", h.ShmSize)
	}
	if h.Init == nil || !*h.Init {
		t.Error("Init not set")
	}
	if len(h.CapDrop) != 1 || strings.ToUpper(h.CapDrop[0]) != "ALL" || len(h.CapAdd) != 0 {
		t.Errorf("CapDrop %v, CapAdd %v", h.CapDrop, h.CapAdd)
	}
	if !hasNoNewPrivileges(h.SecurityOpt) {
		t.Errorf("SecurityOpt %v", h.SecurityOpt)
	}
	if h.Privileged {
		t.Error("privileged")
	}
	if info.Config.User == "" || strings.HasPrefix(info.Config.User, "0") || info.Config.User == "root" {
		t.Errorf("user %q", info.Config.User)
	}
	if string(h.NetworkMode) != shared.network {
		t.Errorf("network %q", h.NetworkMode)
	}
	for _, m := range info.Mounts {
		if strings.Contains(m.Source, "docker.sock") {
			t.Errorf("docker socket mounted: %+v", m)
		}
	}
	if len(info.Mounts) != 0 || len(h.Binds) != 0 {
		t.Errorf("mounts %+v, binds %v", info.Mounts, h.Binds)
	}
}

func hasNoNewPrivileges(opts []string) bool {
	for _, o := range opts {
		if o == "no-new-privileges" || o == "no-new-privileges=true" || o == "no-new-privileges:true" {
			return true
		}
	}
	return false
}

// checkVNC connects to the published VNC port and reads the server's
// protocol version: x11vnc answers on localhost only.
func checkVNC(t *testing.T, info container.InspectResponse) {
	t.Helper()
	bindings := info.NetworkSettings.Ports["5900/tcp"]
	if len(bindings) == 0 || bindings[0].HostPort == "" {
		t.Fatalf("VNC port not published: %+v", info.NetworkSettings.Ports)
	}
	if bindings[0].HostIP != "127.0.0.1" {
		t.Errorf("VNC published on %q, want 127.0.0.1", bindings[0].HostIP)
	}
	addr := net.JoinHostPort("127.0.0.1", bindings[0].HostPort)
	waitFor(t, "VNC banner on "+addr, time.Minute, func(ctx context.Context) bool {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return false
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		return err == nil && strings.HasPrefix(line, "RFB ")
	})
}
