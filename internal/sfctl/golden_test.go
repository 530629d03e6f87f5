package sfctl

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/natsembed"
	"github.com/screenfleet/screenfleet/internal/taskstore"
	"github.com/screenfleet/screenfleet/internal/worker"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the output seen")

// fixedNow is the clock of every golden test: ages and running durations
// are measured against it.
var fixedNow = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// fleetEnv is a real embedded NATS server with the task bucket filled in.
type fleetEnv struct {
	t   *testing.T
	url string
	nc  *nats.Conn
	kv  jetstream.KeyValue
	sub messages.Subjects
}

func newFleetEnv(t *testing.T) *fleetEnv {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{DataDir: t.TempDir(), Port: -1}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &fleetEnv{t: t, url: srv.ClientURL(), nc: nc, sub: messages.NewSubjects("")}
}

// openBucket creates the task bucket as a dispatcher would.
func (e *fleetEnv) openBucket() {
	e.t.Helper()
	js, err := jetstream.New(e.nc)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := taskstore.Open(ctx, js, 1); err != nil {
		e.t.Fatal(err)
	}
	if e.kv, err = js.KeyValue(ctx, messages.TasksBucket); err != nil {
		e.t.Fatal(err)
	}
}

func (e *fleetEnv) put(st messages.TaskStatus) {
	e.t.Helper()
	st.V = messages.Version
	if st.UpdatedAt.IsZero() {
		st.UpdatedAt = st.SubmittedAt
	}
	b, err := messages.Encode(st)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.kv.Put(context.Background(), st.ID, b); err != nil {
		e.t.Fatal(err)
	}
}

// run runs sfctl with args against the server and returns what it wrote,
// with the error as the last line.
func (e *fleetEnv) run(args ...string) string {
	e.t.Helper()
	return e.runRaw(append(args, "--nats-url", e.url)...)
}

// runRaw is run with args exactly as given.
func (e *fleetEnv) runRaw(args ...string) string {
	e.t.Helper()
	var out bytes.Buffer
	root := newRoot(&out, func() time.Time { return fixedNow })
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := root.ExecuteContext(ctx); err != nil {
		out.WriteString("error: " + err.Error() + "\n")
	}
	return strings.ReplaceAll(out.String(), e.url, "NATS_URL")
}

// golden compares got with testdata/name.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/sfctl -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (-update rewrites it)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

// sampleTasks are a finished, a failed, a running and a queued task.
func sampleTasks() []messages.TaskStatus {
	at := func(min, sec int) time.Time {
		return fixedNow.Add(-time.Duration(min)*time.Minute - time.Duration(sec)*time.Second)
	}
	step := func(i int, a messages.Action, d time.Duration, ok bool, detail, err string) messages.StepResult {
		return messages.StepResult{Index: i, Action: a, Detail: detail, OK: ok, Duration: messages.Duration(d), Frames: 2, Error: err,
			Stages: map[string]messages.Duration{"capture": messages.Duration(d / 100), "encode": messages.Duration(d / 20),
				"publish_to_reply": messages.Duration(d / 2), "decode": messages.Duration(d / 1000), "settle": messages.Duration(d / 5)}}
	}
	return []messages.TaskStatus{
		{ID: "login-001", State: messages.StateSucceeded, Attempt: 1, Sandbox: "sb-1a2b3c", Dispatcher: "host-d1",
			StepCount: 3, SubmittedAt: at(42, 0), StartedAt: at(41, 58), FinishedAt: at(41, 46),
			Steps: []messages.StepResult{
				step(0, messages.ActionWaitFor, 6200*time.Millisecond, true, `found "Sign in" at (612,431)`, ""),
				step(1, messages.ActionClick, 900*time.Millisecond, true, `clicked "User name" at (400,300)`, ""),
				step(2, messages.ActionType, 1300*time.Millisecond, true, "typed 5 characters", ""),
			}},
		{ID: "broken-7", State: messages.StateFailed, Attempt: 1, Sandbox: "sb-4d5e6f", Dispatcher: "host-d1",
			StepCount: 2, SubmittedAt: at(30, 0), StartedAt: at(29, 58), FinishedAt: at(29, 40),
			Code: messages.CodeTargetNotFound, Error: `step 2: no text "Sign up" on screen; closest: "Sign in"`,
			Seen: []string{"Sign in", "User name", "Password"},
			Steps: []messages.StepResult{
				step(0, messages.ActionWaitFor, 2*time.Second, true, `found "Sign in" at (612,431)`, ""),
				step(1, messages.ActionClick, 15*time.Second, false, "", `no text "Sign up" on screen`),
			}},
		{ID: "search-3", State: messages.StateRunning, Attempt: 2, Sandbox: "sb-777aaa", Dispatcher: "host-d2",
			StepCount: 4, SubmittedAt: at(1, 0), StartedAt: at(0, 45),
			Code: messages.CodeSandboxFailed, Error: "attempt 1: agentd exited with status 2",
			Steps: []messages.StepResult{step(0, messages.ActionWaitFor, 3*time.Second, true,
				`found "Search" at (10,10)`, "")}},
		{ID: "notes-9", State: messages.StateQueued, Attempt: 1, StepCount: 5, SubmittedAt: at(0, 5)},
	}
}

// sampleSandboxes answers the sandbox list request as two dispatchers would.
func (e *fleetEnv) sampleSandboxes() {
	e.t.Helper()
	lists := []messages.SandboxList{
		{Dispatcher: "host-d1", Runtime: "process", Capacity: 2},
		{Dispatcher: "host-d2", Runtime: "docker", Capacity: 4, Sandboxes: []messages.SandboxInfo{
			{ID: "sb-777aaa", State: messages.SandboxRunning, Task: "search-3", Attempt: 2, Runtime: "docker",
				Started: fixedNow.Add(-50 * time.Second), VNC: "127.0.0.1:49153", Zombies: new(int),
				ShmBytes: 1 << 30},
			{ID: "sb-888bbb", State: messages.SandboxStarting, Task: "notes-9", Attempt: 1, Runtime: "docker",
				Started: fixedNow.Add(-2 * time.Second)},
		}},
	}
	for _, l := range lists {
		b, err := messages.Encode(l)
		if err != nil {
			e.t.Fatal(err)
		}
		sub, err := e.nc.Subscribe(e.sub.SandboxList(), func(m *nats.Msg) { _ = m.Respond(b) })
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	if err := e.nc.Flush(); err != nil {
		e.t.Fatal(err)
	}
}

// sampleWorker registers a NATS micro service shaped like a worker (see
// internal/worker's service.go) and returns its id.
func (e *fleetEnv) sampleWorker() string {
	e.t.Helper()
	status := worker.ModelStatus{Model: "ocr", Ready: true, Adapter: "boxes", MaxBatch: 8,
		StatsData: worker.StatsData{Frames: map[string]int64{"ok": 120, "overloaded": 3, "error": 1},
			Batches: 100, MeanBatch: 1.24, P50Ms: 214.2, P95Ms: 525.3, P99Ms: 810}}
	svc, err := micro.AddService(e.nc, micro.Config{Name: "sf-worker", Version: "0.4.0",
		Metadata:     map[string]string{"gpu": "0", "worker": "w-gpu0", "models": "ocr"},
		StatsHandler: func(*micro.Endpoint) any { return status }})
	if err != nil {
		e.t.Fatal(err)
	}
	t := e.t
	t.Cleanup(func() { _ = svc.Stop() })
	err = svc.AddEndpoint("ocr", micro.HandlerFunc(func(r micro.Request) { _ = r.RespondJSON(status) }),
		micro.WithEndpointSubject("sf.worker.w-gpu0.ocr"), micro.WithEndpointQueueGroupDisabled(),
		micro.WithEndpointMetadata(map[string]string{"model": "ocr", "subject": "sf.infer.ocr.*"}))
	if err != nil {
		t.Fatal(err)
	}
	return svc.Info().ID
}
