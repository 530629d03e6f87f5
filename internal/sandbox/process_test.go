//go:build linux

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/xvfb"
)

// fakeAgentPath is the test-built stand-in for agentd (testdata/fakeagent).
var fakeAgentPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fakeagent")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fakeAgentPath = filepath.Join(dir, "agentd")
	out, err := exec.Command("go", "build", "-o", fakeAgentPath, "./testdata/fakeagent").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build fake agent: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newRuntime(t *testing.T, mode string, grace time.Duration) *Process {
	t.Helper()
	if _, err := exec.LookPath("Xvfb"); err != nil {
		t.Skip("Xvfb not installed: the process runtime needs it")
	}
	rt, err := NewProcess(ProcessConfig{
		AgentdPath: fakeAgentPath,
		WorkRoot:   t.TempDir(),
		Env:        []string{"FAKEAGENT_MODE=" + mode},
		StopGrace:  grace,
	}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func startSandbox(t *testing.T, rt *Process, id string) *processSandbox {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sb, err := rt.Start(ctx, Spec{ID: id, Width: 320, Height: 200, NATSURL: "nats://127.0.0.1:1",
		SubjectPrefix: "sf"})
	if errors.Is(err, xvfb.ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Stop(context.Background()) })
	return sb.(*processSandbox)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// agentInfo waits for the fake agent's report: its pid and its two
// children's, its arguments, and its DISPLAY.
func agentInfo(t *testing.T, sb *processSandbox) (pids []int, args, display string) {
	t.Helper()
	path := filepath.Join(sb.dir, "pids")
	waitFor(t, "fake agent to report its pids", 10*time.Second, func() bool {
		_, err := os.Stat(path)
		return err == nil
	})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for _, f := range strings.Fields(lines[0]) {
		n, _ := strconv.Atoi(f)
		pids = append(pids, n)
	}
	return pids, lines[1], lines[2]
}

func assertGone(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		if p, ok := readProc(pid); ok && p.state != 'Z' {
			t.Errorf("process %d still running (state %c) after Stop", pid, p.state)
		}
	}
}

func TestStopTearsDownTheProcessTree(t *testing.T) {
	rt := newRuntime(t, "", time.Second)
	sb := startSandbox(t, rt, "sb-tree")
	pids, args, display := agentInfo(t, sb)
	xvfbPid := sb.display.Pid()

	if display != sb.display.Display() {
		t.Errorf("agent DISPLAY = %q, want %q", display, sb.display.Display())
	}
	for _, want := range []string{"--sandbox sb-tree", "--display " + display, "--work-dir " + sb.dir,
		"--subject-prefix sf", "--http-addr 127.0.0.1:0", "--log-format json"} {
		if !strings.Contains(args, want) {
			t.Errorf("agent args %q lack %q", args, want)
		}
	}
	// The URL, which may carry a password, is in the environment only.
	if info, _ := os.ReadFile(filepath.Join(sb.dir, "pids")); strings.Contains(args, "nats-url") ||
		!strings.Contains(string(info), "\nnats://127.0.0.1:1\n") {
		t.Errorf("agent args %q, info %q: want the NATS URL in SF_NATS_URL only", args, info)
	}
	select {
	case <-sb.Done():
		t.Fatalf("sandbox ended early: %v", sb.Err())
	default:
	}

	began := time.Now()
	if err := sb.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("stop took %s", time.Since(began))
	assertGone(t, append(pids, xvfbPid)...)
	if _, err := os.Stat(sb.dir); !os.IsNotExist(err) {
		t.Errorf("work dir %s still there: %v", sb.dir, err)
	}
	if !errors.Is(sb.Err(), ErrStopped) {
		t.Errorf("Err = %v, want ErrStopped", sb.Err())
	}
	if err := sb.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestEarlyDeathIsReported(t *testing.T) {
	rt := newRuntime(t, "exit2", time.Second)
	sb := startSandbox(t, rt, "sb-dies")
	select {
	case <-sb.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("sandbox did not report the agent's death")
	}
	if got := fmt.Sprint(sb.Err()); got != "agentd exited with status 2" {
		t.Errorf("Err = %q, want %q", got, "agentd exited with status 2")
	}
	if !strings.Contains(logTail(sb.logPath(), 1024), "giving up") {
		t.Errorf("agent stderr not in %s", sb.logPath())
	}
	xvfbPid := sb.display.Pid()
	if err := sb.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertGone(t, xvfbPid)
	if got := fmt.Sprint(sb.Err()); got != "agentd exited with status 2" {
		t.Errorf("Err after Stop = %q, want the death reason kept", got)
	}
}

func TestStubbornAgentIsKilled(t *testing.T) {
	const grace = 300 * time.Millisecond
	rt := newRuntime(t, "stubborn", grace)
	sb := startSandbox(t, rt, "sb-stubborn")
	pids, _, _ := agentInfo(t, sb)

	began := time.Now()
	if err := sb.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < grace {
		t.Errorf("stop took %s, less than the %s grace: SIGTERM was not ignored?", took, grace)
	}
	assertGone(t, pids...)
}

func TestStopHonoursContext(t *testing.T) {
	rt := newRuntime(t, "stubborn", time.Minute)
	sb := startSandbox(t, rt, "sb-ctx")
	pids, _, _ := agentInfo(t, sb)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	if err := sb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("stop took %s despite a 200ms context", took)
	}
	assertGone(t, pids...)
}

func TestNewProcessNeedsAgentd(t *testing.T) {
	_, err := NewProcess(ProcessConfig{AgentdPath: filepath.Join(t.TempDir(), "missing")}, zerolog.Nop())
	if err == nil {
		t.Fatal("NewProcess with a missing agentd succeeded")
	}
}

func TestStartRejectsBadID(t *testing.T) {
	rt := newRuntime(t, "", time.Second)
	if _, err := rt.Start(context.Background(), Spec{ID: "a.b", Width: 100, Height: 100}); err == nil {
		t.Fatal("start with a dotted id succeeded")
	}
}

func TestDescendantsFindsGrandchildren(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 1000 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitFor(t, "sh to start sleep", 5*time.Second,
		func() bool { return len(descendants(cmd.Process.Pid)) == 1 })
	d := descendants(cmd.Process.Pid)
	if !d[0].alive() || d[0].ppid != cmd.Process.Pid {
		t.Fatalf("descendant %+v", d[0])
	}
	_ = syscall.Kill(d[0].pid, syscall.SIGKILL)
}

// C21: a process sandbox's health counts the zombies among its agent's
// descendants and reports the size of the /dev/shm it shares with the host.
func TestProcessHealthCountsZombies(t *testing.T) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &fs); err != nil {
		t.Skip("no /dev/shm:", err)
	}
	for _, tc := range []struct {
		mode    string
		zombies int
	}{{"", 0}, {"zombies", 3}} {
		sb := startSandbox(t, newRuntime(t, tc.mode, time.Second), "sb-health-"+tc.mode)
		agentInfo(t, sb)
		var h Health
		waitFor(t, "the health report of mode "+tc.mode, 10*time.Second, func() bool {
			var err error
			h, err = sb.Health(t.Context())
			return err == nil && h.Zombies == tc.zombies
		})
		if h.ShmBytes != int64(fs.Blocks)*fs.Bsize || h.ShmBytes <= 0 {
			t.Errorf("mode %q: /dev/shm of %d bytes, want %d", tc.mode, h.ShmBytes, int64(fs.Blocks)*fs.Bsize)
		}
	}
}
