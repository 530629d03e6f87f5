// Package faults runs tasks through the real binaries (a standalone
// nats-server with file storage, inferd, a worker, a dispatcher with the
// process runtime, agentd in Xvfb with xmessage as the app) while killing
// agents, the worker, inferd and the NATS server with SIGKILL at random
// moments.
// Afterwards every task has exactly one final state, none is lost, none
// succeeded twice, and no process of the run is left.
//
// make test runs a small size; make faults a larger one:
//
//	go test ./test/faults -args -tasks 60 -kills 40
package faults

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// natsPassword is the run's NATS password; no log may contain it.
const natsPassword = "s3cret-faults-pw"

var (
	tasks = flag.Int("tasks", 8, "tasks to run")
	kills = flag.Int("kills", 6, "faults to inject while they run")
	// A killed dispatcher's tasks come back after the consumer's ack wait
	// (60 s), so these kills cost a minute each and are off by default.
	dispatcherKills = flag.Int("dispatcher-kills", 0, "of the kills, how many hit the dispatcher")
)

// run is the system under test: each part a process started from bin.
type run struct {
	t       *testing.T
	bin     string
	root    string // every process of the run has its working dir below
	port    int
	natsURL string
	procs   map[string]*exec.Cmd
}

func TestTasksSurviveKills(t *testing.T) {
	for _, tool := range []string{"Xvfb", "xmessage"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make deps installs it)", tool)
		}
	}
	r := newRun(t)
	conf := filepath.Join(r.root, "nats.conf")
	if err := os.WriteFile(conf, []byte("authorization { user: sf, password: "+natsPassword+" }\n"),
		0o600); err != nil {
		t.Fatal(err)
	}
	r.start("nats-server", "-a", "127.0.0.1", "-p", strconv.Itoa(r.port), "-js", "-sd",
		filepath.Join(r.root, "js"),
		"-c", conf)
	r.waitNATS()
	inferd := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r.start("inferd", "--grpc-addr", inferd, "--http-addr", "", "--ocr-workers", "1")
	r.start("worker", "--backend", inferd, "--http-addr", "")
	r.start("dispatcher", "--id", "faults", "--http-addr", "", "--max-sandboxes", "3",
		"--max-attempts", "3", "--work-root", filepath.Join(r.root,
			"work"), "--agentd", filepath.Join(r.bin, "agentd"),
		"--log-format", "json")

	js := r.connect()
	ids := r.submit(js)
	injected := r.injectFaults()
	leakedDuring, agentLogs := r.logsWith(natsPassword) // the sandboxes' logs go with them
	for _, p := range r.ownProcesses() {
		if strings.Contains(p.cmd, natsPassword) {
			t.Errorf("the NATS password is in the arguments of %s", filepath.Base(p.exe))
		}
	}
	states := r.waitAllFinal(js, ids, 4*time.Minute+time.Duration(*dispatcherKills)*90*time.Second)
	r.stop("dispatcher")
	r.stopAll()
	leaked := r.leakedProcesses()

	count := map[messages.State]int{}
	for id, st := range states {
		count[st.State]++
		if st.State != messages.StateSucceeded {
			t.Logf("%s %s after %d attempts: %s", id, st.State, st.Attempt, st.Error)
		}
	}
	t.Logf("faults: %d tasks, %d faults injected (%s), final: %v, lost: %d, leaked processes: %d",
		len(ids), len(injected), strings.Join(injected, ", "), count, len(ids)-len(states), len(leaked))
	if logs, _ := r.logsWith(natsPassword); len(logs)+len(leakedDuring) > 0 {
		t.Errorf("the NATS password appears in logs: %s", strings.Join(append(leakedDuring, logs...), ", "))
	}
	if agentLogs == 0 {
		t.Error("no sandbox's agent log was there to read")
	}
	if len(states) != len(ids) {
		t.Errorf("%d of %d tasks lost", len(ids)-len(states), len(ids))
	}
	if len(leaked) > 0 {
		t.Errorf("processes left after the run: %s", strings.Join(leaked, "; "))
	}
}

func newRun(t *testing.T) *run {
	root := t.TempDir()
	r := &run{t: t, bin: filepath.Join(root, "bin"), root: root, procs: map[string]*exec.Cmd{}}
	for _, pkg := range []string{"../../cmd/dispatcher", "../../cmd/agentd", "../../cmd/worker",
		"../../cmd/inferd",
		"github.com/nats-io/nats-server/v2"} {
		cmd := exec.Command("go", "build", "-o", r.bin+"/", pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	r.port = freePort(t)
	r.natsURL = fmt.Sprintf("nats://sf:%s@127.0.0.1:%d", natsPassword, r.port)
	t.Cleanup(r.stopAll)
	return r
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs a binary with its working dir and log under root.
func (r *run) start(name string, args ...string) {
	r.t.Helper()
	dir := filepath.Join(r.root, "run", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(r.root, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(r.bin, name), args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logf, logf
	// The URL carries the password: in the environment, not the arguments.
	cmd.Env = append(os.Environ(), "OMP_THREAD_LIMIT=1", "SF_NATS_URL="+r.natsURL)
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start %s: %v", name, err)
	}
	r.procs[name] = cmd
}

// kill ends name with SIGKILL and restarts it with the same arguments.
func (r *run) killAndRestart(name string) {
	cmd := r.procs[name]
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	time.Sleep(time.Duration(200+rand.IntN(800)) * time.Millisecond)
	r.start(name, cmd.Args[1:]...)
}

func (r *run) stop(name string) {
	cmd, ok := r.procs[name]
	if !ok {
		return
	}
	delete(r.procs, name)
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

func (r *run) stopAll() {
	for _, name := range []string{"dispatcher", "worker", "inferd", "nats-server"} {
		r.stop(name)
	}
}

func (r *run) waitNATS() {
	r.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(
		50 * time.Millisecond) {
		if nc, err := nats.Connect(r.natsURL); err == nil {
			nc.Close()
			return
		}
	}
	r.t.Fatal("nats-server did not start")
}

// connect returns a JetStream handle that outlives server restarts.
func (r *run) connect() jetstream.JetStream {
	r.t.Helper()
	nc, err := nats.Connect(r.natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		r.t.Fatal(err)
	}
	return js
}

// submit publishes the tasks once the dispatcher has made its stream: each
// opens xmessage, has its screen read once (inference: agent, worker,
// inferd), and sleeps through a few steps, long enough to be killed in the
// middle.
func (r *run) submit(js jetstream.JetStream) []string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		if _, err := js.Stream(ctx, messages.TasksStream); err == nil {
			break
		}
		if ctx.Err() != nil {
			r.t.Fatal("the dispatcher made no TASKS stream")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ids []string
	for i := range *tasks {
		id := fmt.Sprintf("fault-%d-%d", os.Getpid(), i)
		task := map[string]any{"id": id, "deadline": "2m",
			"app": map[string]any{"command": []string{"xmessage", "-name", "sf-faults", id}},
			"steps": []map[string]any{
				// One inference, whatever Tesseract makes of xmessage's
				// small font: a label that is never there is absent.
				{"action": "assert_absent", "target": map[string]any{"text": "no such label"},
					"timeout": "30s"},
				{"action": "sleep", "for": "1s"}, {"action": "sleep", "for": "1s"},
				{"action": "sleep", "for": "1s"}}}
		body, _ := json.Marshal(task)
		if _, err := js.Publish(ctx, messages.NewSubjects("").TaskSubmit(), body,
			jetstream.WithMsgID(id)); err != nil {
			r.t.Fatalf("submit %s: %v", id, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// injectFaults kills, at random moments while tasks run, in turn: a
// running agentd, the NATS server (restarted on the same store), another
// agentd, the worker or, -dispatcher-kills times, the dispatcher
// (restarted under the same id), and inferd (restarted on the same
// address: the worker leaves the queue group while its backend is down and
// the agents' requests are retried until it is back). With no agent
// running, the worker goes instead.
func (r *run) injectFaults() []string {
	var done []string
	left := *dispatcherKills
	for i := range *kills {
		time.Sleep(time.Duration(300+rand.IntN(1500)) * time.Millisecond)
		victim := []string{"agentd", "nats-server", "agentd", "worker", "inferd"}[i%5]
		if victim == "worker" && left > 0 {
			victim, left = "dispatcher", left-1
		}
		if victim == "agentd" {
			if pid := r.someAgent(); pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				done = append(done, victim)
				continue
			}
			victim = "worker"
		}
		r.killAndRestart(victim)
		done = append(done, victim)
	}
	return done
}

// someAgent returns the pid of a running agentd of this run, or 0.
func (r *run) someAgent() int {
	var pids []int
	for _, p := range r.ownProcesses() {
		if strings.HasSuffix(p.exe, "/agentd") {
			pids = append(pids, p.pid)
		}
	}
	if len(pids) == 0 {
		return 0
	}
	return pids[rand.IntN(len(pids))]
}

// waitAllFinal waits until every task has a final state and checks its
// history: exactly one final state, and never two successes.
func (r *run) waitAllFinal(js jetstream.JetStream, ids []string,
	limit time.Duration) map[string]messages.TaskStatus {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	states := map[string]messages.TaskStatus{}
	for _, id := range ids {
		for ctx.Err() == nil {
			if st, ok := r.final(ctx, js, id); ok {
				states[id] = st
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if _, ok := states[id]; !ok {
			r.t.Errorf("task %s lost: no final state after %s", id, limit)
		}
	}
	return states
}

// final reads id's history and returns its final state once it has one.
func (r *run) final(ctx context.Context, js jetstream.JetStream, id string) (messages.TaskStatus, bool) {
	var last messages.TaskStatus
	kv, err := js.KeyValue(ctx, messages.TasksBucket)
	if err != nil {
		return last, false
	}
	hist, err := kv.History(ctx, id)
	if err != nil {
		return last, false
	}
	var finals []messages.State
	for _, e := range hist {
		var st messages.TaskStatus
		if messages.Decode(e.Value(), &st) == nil && st.State.Final() {
			finals = append(finals, st.State)
			last = st
		}
	}
	if len(finals) == 0 {
		return last, false
	}
	if len(finals) > 1 {
		r.t.Errorf("task %s reached %d final states: %v", id, len(finals), finals)
	}
	return last, true
}

type proc struct {
	pid int
	exe string
	cmd string
}

// ownProcesses lists the processes whose working dir is under the run's
// root: every part of the run, sandboxes included, and nothing else.
func (r *run) ownProcesses() []proc {
	entries, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || !strings.HasPrefix(cwd, r.root) {
			continue
		}
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, proc{pid: pid, exe: exe, cmd: strings.ReplaceAll(string(cmd), "\x00", " ")})
	}
	return out
}

// leakedProcesses returns the run's processes still alive once every part
// was stopped, after a grace for exits under way.
func (r *run) leakedProcesses() []string {
	var left []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		left = left[:0]
		for _, p := range r.ownProcesses() {
			if state, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid)); strings.Contains(string(state),
				") Z ") {
				continue // a zombie holds nothing
			}
			left = append(left, fmt.Sprintf("%d %s", p.pid, p.cmd))
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
	}
}

// logsWith returns the run's log files (the daemons' and every sandbox's)
// that contain s, and how many agent logs it read.
func (r *run) logsWith(s string) (found []string, agentLogs int) {
	_ = filepath.WalkDir(r.root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".log") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		if strings.HasPrefix(path, filepath.Join(r.root, "work")) {
			agentLogs++
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, s) {
				found = append(found, strings.TrimPrefix(path, r.root+"/")+": "+
					strings.ReplaceAll(line, s, "<password>"))
			}
		}
		return nil
	})
	return found, agentLogs
}
