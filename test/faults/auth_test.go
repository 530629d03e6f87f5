package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/screenfleet/screenfleet/internal/agentauth"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// The deployment's secrets in TestTasksWithAgentCredentials: no log, no
// command line and no agent's environment may hold any of them.
const (
	authSecret     = "faults-agent-secret-0123456789"
	authDispatchPW = "faults-dispatcher-pw"
	authWorkerPW   = "faults-worker-pw"
	authAuthzPW    = "faults-authorizer-pw"
	authSubmitPW   = "faults-submitter-pw"
)

// TestTasksWithAgentCredentials runs tasks through the real binaries with
// deploy/nats.conf: no agent user in the server's configuration, so each
// agent gets in only through the dispatcher's auth callout, as its own
// sandbox. Each task has a frame read by the worker (a reply on the agent's
// own inbox), records its frames, and succeeds.
func TestTasksWithAgentCredentials(t *testing.T) {
	for _, tool := range []string{"Xvfb", "xmessage"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make deps installs it)", tool)
		}
	}
	r := newRun(t)
	seed := r.startAuthServer()
	secrets := []string{authSecret, seed, authDispatchPW, authWorkerPW, authAuthzPW, authSubmitPW}
	if err := os.WriteFile(filepath.Join(r.root, "agent-secret"), []byte(authSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.root, "callout-seed"), []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	inferd := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r.startEnv("inferd", nil, "--grpc-addr", inferd, "--http-addr", "", "--ocr-workers", "1")
	r.startEnv("worker", []string{"SF_NATS_URL=" + r.urlAs("worker", authWorkerPW)},
		"--backend", inferd, "--http-addr", "")
	r.startEnv("dispatcher", []string{"SF_NATS_URL=" + r.urlAs("dispatcher", authDispatchPW),
		"SF_CALLOUT_NATS_URL=" + r.urlAs("authorizer", authAuthzPW)},
		"--id", "auth", "--http-addr", "", "--max-sandboxes", "2", "--max-attempts", "1",
		"--work-root", filepath.Join(r.root, "work"), "--agentd", filepath.Join(r.bin, "agentd"),
		"--agent-secret-file", filepath.Join(r.root, "agent-secret"),
		"--callout-seed-file", filepath.Join(r.root, "callout-seed"), "--log-format", "json")

	r.natsURL = r.urlAs("dispatcher", authDispatchPW) // the test reads the streams as the dispatcher
	js := r.connect()
	ids := submitOCRTasks(t, js, 2)
	r.checkAgentsHoldNoSecret(secrets)
	states := r.waitAllFinal(js, ids, 3*time.Minute)
	for id, st := range states {
		if st.State != messages.StateSucceeded {
			t.Errorf("task %s %s: %s", id, st.State, st.Error)
			continue
		}
		secrets = append(secrets, agentauth.Password([]byte(authSecret), st.Sandbox))
		checkRecorded(t, js, id, st.Sandbox)
	}
	r.stop("dispatcher")
	r.stopAll()
	for _, s := range secrets {
		if logs, _ := r.logsWith(s); len(logs) > 0 {
			t.Errorf("a secret appears in logs: %s", strings.Join(logs, ", "))
		}
	}
	if logs, _ := r.logsWith(`"auth_callout_started"`); len(logs) != 1 {
		t.Errorf("the dispatcher's log says %d times that the auth callout started", len(logs))
	}
}

// startAuthServer runs nats-server with deploy/nats.conf, its passwords
// and a fresh callout issuer in its environment, and returns the issuer's
// seed.
func (r *run) startAuthServer() string {
	r.t.Helper()
	kp, err := nkeys.CreateAccount()
	if err != nil {
		r.t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	// deploy/nats.conf as it is, but for its store: nats-server refuses
	// -sd next to the file's store_dir.
	b, err := os.ReadFile("../../deploy/nats.conf")
	if err != nil {
		r.t.Fatal(err)
	}
	conf := filepath.Join(r.root, "nats.conf")
	b = []byte(strings.Replace(string(b), "store_dir: /data", "store_dir: "+filepath.Join(r.root, "js"), 1))
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		r.t.Fatal(err)
	}
	r.startEnv("nats-server", []string{"SF_NATS_SUBMITTER_PASSWORD=" + authSubmitPW,
		"SF_NATS_DISPATCHER_PASSWORD=" + authDispatchPW, "SF_NATS_WORKER_PASSWORD=" + authWorkerPW,
		"SF_NATS_AUTHORIZER_PASSWORD=" + authAuthzPW, "SF_NATS_CALLOUT_ISSUER=" + pub},
		"-c", conf, "-a", "127.0.0.1", "-p", strconv.Itoa(r.port), "-m", strconv.Itoa(freePort(r.t)))
	r.natsURL = r.urlAs("submitter", authSubmitPW)
	r.waitNATS()
	return string(seed)
}

func (r *run) urlAs(user, password string) string {
	return fmt.Sprintf("nats://%s:%s@127.0.0.1:%d", user, password, r.port)
}

// startEnv runs a binary like start, with env (which holds its passwords)
// in place of the run's URL.
func (r *run) startEnv(name string, env []string, args ...string) {
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
	cmd.Env = append(append(os.Environ(), "OMP_THREAD_LIMIT=1"), env...)
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start %s: %v", name, err)
	}
	r.procs[name] = cmd
}

// submitOCRTasks publishes n tasks that each open xmessage, check that
// some words are absent (a frame the worker reads; absent, so that the
// check does not hang on how well OCR reads xmessage) and sleep a little.
func submitOCRTasks(t *testing.T, js jetstream.JetStream, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		if _, err := js.Stream(ctx, messages.TasksStream); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the dispatcher made no TASKS stream")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ids []string
	for i := range n {
		id := fmt.Sprintf("auth-%d-%d", os.Getpid(), i)
		task := map[string]any{"id": id, "deadline": "2m",
			"app": map[string]any{"command": []string{"xmessage", "-name", "sf-auth", id}},
			"steps": []map[string]any{
				{"action": "assert_absent", "target": map[string]any{"text": "no such words"}},
				{"action": "sleep", "for": "500ms"}}}
		body, err := json.Marshal(task)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, messages.NewSubjects("").TaskSubmit(), body,
			jetstream.WithMsgID(id)); err != nil {
			t.Fatalf("submit %s: %v", id, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// checkAgentsHoldNoSecret waits for an agent to run, then checks that no
// process of the run has a secret in its arguments and that no agent has
// the dispatcher's secrets in its environment.
func (r *run) checkAgentsHoldNoSecret(secrets []string) {
	r.t.Helper()
	var agents []proc
	for deadline := time.Now().Add(time.Minute); len(agents) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatal("no agentd started within a minute")
		}
		for _, p := range r.ownProcesses() {
			if strings.HasSuffix(p.exe, "/agentd") {
				agents = append(agents, p)
			}
		}
	}
	for _, p := range r.ownProcesses() {
		for _, s := range secrets {
			if strings.Contains(p.cmd, s) {
				r.t.Errorf("a secret is in the arguments of %s", filepath.Base(p.exe))
			}
		}
	}
	for _, a := range agents {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", a.pid))
		if err != nil {
			continue // it ended meanwhile
		}
		for _, s := range []string{authSecret, secrets[1], authDispatchPW, authAuthzPW, "SF_CALLOUT_"} {
			if strings.Contains(string(env), s) {
				r.t.Errorf("agent %d has the dispatcher's secret or settings in its environment", a.pid)
			}
		}
	}
}

// checkRecorded checks that the agent of sandbox recorded the task's frames
// and its end under its own sandbox id.
func checkRecorded(t *testing.T, js jetstream.JetStream, task, sandbox string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subj := messages.NewSubjects("")
	for stream, filter := range map[string]string{messages.FramesStream: subj.Frame(task, sandbox),
		messages.RecordsStream: subj.Record(task, sandbox, messages.RecordKindEnd)} {
		var err error
		for n := uint64(0); n == 0; time.Sleep(100 * time.Millisecond) {
			var s jetstream.Stream
			var info *jetstream.StreamInfo
			if s, err = js.Stream(ctx, stream); err == nil {
				if info, err = s.Info(ctx, jetstream.WithSubjectFilter(filter)); err == nil {
					n = info.State.Subjects[filter]
				}
			}
			if ctx.Err() != nil {
				t.Errorf("task %s: nothing on %s in %s (%v)", task, filter, stream, err)
				break
			}
		}
	}
}
