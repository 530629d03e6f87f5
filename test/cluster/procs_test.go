package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fleet is the system under test: every part a process started from bin,
// with its working dir under root, so that what is left of it afterwards
// can be found.
type fleet struct {
	t     *testing.T
	bin   string
	root  string
	procs map[string]*exec.Cmd
	ports map[int]bool // handed out by port
}

func newFleet(t *testing.T) *fleet {
	root := t.TempDir()
	f := &fleet{t: t, bin: filepath.Join(root, "bin"), root: root, procs: map[string]*exec.Cmd{},
		ports: map[int]bool{}}
	for _, pkg := range []string{"../../cmd/dispatcher", "../../cmd/agentd", "../../cmd/worker",
		"../../cmd/inferd", "github.com/nats-io/nats-server/v2"} {
		out, err := exec.Command("go", "build", "-o", f.bin+"/", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	t.Cleanup(f.dumpLogsIfFailed)
	t.Cleanup(f.stopAll)
	return f
}

// dumpLogsIfFailed shows the end of each daemon's log when the test failed,
// since root goes with the test.
func (f *fleet) dumpLogsIfFailed() {
	if !f.t.Failed() {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(f.root, "*.log"))
	for _, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		f.t.Logf("--- %s (last %d of %d lines)\n%s", filepath.Base(path), min(len(lines), logTail), len(lines),
			strings.Join(lines[max(0, len(lines)-logTail):], "\n"))
	}
}

// logTail is how many lines of each log a failed run shows.
const logTail = 25

// start runs binary as name (one binary may run under several names),
// logging to root/name.log, with env added to the test's environment.
func (f *fleet) start(name, binary string, env []string, args ...string) {
	f.t.Helper()
	dir := filepath.Join(f.root, "run", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	logf, err := os.OpenFile(f.logPath(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		f.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(f.bin, binary), args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logf, logf
	cmd.Env = append(append(os.Environ(), "OMP_THREAD_LIMIT=1"), env...)
	if err := cmd.Start(); err != nil {
		f.t.Fatalf("start %s: %v", name, err)
	}
	f.procs[name] = cmd
}

func (f *fleet) logPath(name string) string { return filepath.Join(f.root, name+".log") }

// kill ends name with SIGKILL and forgets it.
func (f *fleet) kill(name string) {
	cmd, ok := f.procs[name]
	if !ok {
		f.t.Fatalf("no process %s to kill", name)
	}
	delete(f.procs, name)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

// stop ends name with SIGTERM, and SIGKILL if it has not exited after a
// grace longer than any part's bounded shutdown.
func (f *fleet) stop(name string) {
	cmd, ok := f.procs[name]
	if !ok {
		return
	}
	delete(f.procs, name)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// stopAll stops the dispatchers first, so that they stop their sandboxes
// while NATS is still there, then everything else.
func (f *fleet) stopAll() {
	for _, prefix := range []string{"dispatcher", "worker", "inferd", "nats"} {
		for name := range f.procs {
			if strings.HasPrefix(name, prefix) {
				f.stop(name)
			}
		}
	}
}

// waitUntil polls cond until it holds, and reports false if limit passed
// first.
func waitUntil(limit time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// port returns a free loopback port, never one it returned before.
// Shortcoming: free when picked, not when used; the nodes need theirs
// known in advance (routes), so another process could take one between.
func (f *fleet) port() int {
	f.t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			f.t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !f.ports[p] {
			f.ports[p] = true
			return p
		}
	}
}

type proc struct {
	pid int
	exe string
	cmd string
}

// ownProcesses lists the live processes whose working dir is under root:
// every part of the run, sandboxes included, and nothing else. Zombies
// hold nothing and are left out.
func (f *fleet) ownProcesses() []proc {
	entries, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || !strings.HasPrefix(cwd, f.root) {
			continue
		}
		if stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); strings.Contains(string(stat),
			") Z ") {
			continue
		}
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, proc{pid: pid, exe: exe, cmd: strings.ReplaceAll(string(cmd), "\x00", " ")})
	}
	return out
}

// leaked returns the run's processes still alive once every part was
// stopped, after a grace for exits under way.
func (f *fleet) leaked() []string {
	var left []string
	waitUntil(10*time.Second, func() bool {
		left = left[:0]
		for _, p := range f.ownProcesses() {
			left = append(left, fmt.Sprintf("%d %s", p.pid, p.cmd))
		}
		return len(left) == 0
	})
	return left
}

// agentEnv returns the environment variable key of a running agentd of
// the run, and whether one was found.
func (f *fleet) agentEnv(key string) (string, bool) {
	for _, p := range f.ownProcesses() {
		if !strings.HasSuffix(p.exe, "/agentd") {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.pid))
		if err != nil {
			continue
		}
		// exec.Cmd drops duplicate keys, keeping the last: there is one.
		for _, kv := range strings.Split(string(env), "\x00") {
			if v, ok := strings.CutPrefix(kv, key+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

// countInLog counts the lines of name's log that contain every one of parts.
func (f *fleet) countInLog(name string, parts ...string) int {
	b, err := os.ReadFile(f.logPath(name))
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// ctxFor returns a context that ends after d or with the test.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
