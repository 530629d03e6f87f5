package agent

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/png" // the agent can send PNG frames
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/screenfleet/screenfleet/internal/logging"
	"github.com/screenfleet/screenfleet/pkg/actuate"
	"github.com/screenfleet/screenfleet/pkg/messages"
	_ "github.com/screenfleet/screenfleet/pkg/rawframe" // and sfraw frames, by default
)

// fakeScreen is a display whose pixels change with every action: the first
// pixel holds the number of actions done so far.
type fakeScreen struct {
	w, h    int
	version atomic.Int32
}

func (s *fakeScreen) Size() (int, int) { return s.w, s.h }

func (s *fakeScreen) CaptureInto(ctx context.Context, dst *image.RGBA) error {
	v := s.version.Load()
	dst.Pix[0], dst.Pix[1], dst.Pix[3] = byte(v), byte(v>>8), 255
	return ctx.Err()
}

func (s *fakeScreen) Close() error { return nil }

// fakeInput records actions (never typed text) and changes the screen.
type fakeInput struct {
	screen  *fakeScreen
	typeErr error

	mu    sync.Mutex
	calls []string
}

func (in *fakeInput) record(call string) {
	in.mu.Lock()
	in.calls = append(in.calls, call)
	in.mu.Unlock()
	in.screen.version.Add(1)
}

func (in *fakeInput) Click(_ context.Context, x, y int, b actuate.Button) error {
	in.record(fmt.Sprintf("click %d,%d button %d", x, y, b))
	return nil
}

func (in *fakeInput) DoubleClick(_ context.Context, x, y int) error {
	in.record(fmt.Sprintf("double-click %d,%d", x, y))
	return nil
}

func (in *fakeInput) Scroll(_ context.Context, x, y, dy int) error {
	in.record(fmt.Sprintf("scroll %d at %d,%d", dy, x, y))
	return nil
}

func (in *fakeInput) Type(_ context.Context, text string) error {
	if in.typeErr != nil {
		return in.typeErr
	}
	in.record(fmt.Sprintf("type %d", len(text)))
	return nil
}

func (in *fakeInput) Key(_ context.Context, combo string) error {
	in.record("key " + combo)
	return nil
}

func (in *fakeInput) Close() error { return nil }

func (in *fakeInput) Calls() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.calls...)
}

// seenFrame is what the fake worker noted about one frame.
type seenFrame struct {
	seq, lastAction uint64
	version         int // actions done when the frame was captured
}

// fakeWorker answers inference requests with the boxes scene finds in the
// frame; the fake screen's scenes depend only on its version pixel.
type fakeWorker struct {
	mu     sync.Mutex
	frames []seenFrame
}

func startWorker(t *testing.T, nc *nats.Conn, scene func(img image.Image) []messages.Box) *fakeWorker {
	w := &fakeWorker{}
	s := messages.NewSubjects("")
	_, err := nc.QueueSubscribe(s.InferAll("ocr"), s.InferQueue("ocr"), func(m *nats.Msg) {
		f, err := messages.DecodeFrame(m.Data)
		if err != nil {
			t.Errorf("worker: %v", err)
			return
		}
		img, _, err := image.Decode(bytes.NewReader(f.Data))
		if err != nil {
			t.Errorf("worker: %v", err)
			return
		}
		w.mu.Lock()
		w.frames = append(w.frames, seenFrame{f.Seq, f.LastAction, version(img)})
		w.mu.Unlock()
		det := messages.Detections{V: messages.Version, Seq: f.Seq, Status: messages.StatusOK, Boxes: scene(img)}
		data, _ := messages.Encode(&det)
		_ = m.Respond(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// version reads the fake screen's action count from the first pixel.
func version(img image.Image) int {
	r, g, _, _ := img.At(0, 0).RGBA()
	return int(r>>8) | int(g>>8)<<8
}

// byVersion makes a scene from a function of the fake screen's version.
func byVersion(scene func(version int) []messages.Box) func(image.Image) []messages.Box {
	return func(img image.Image) []messages.Box { return scene(version(img)) }
}

func (w *fakeWorker) Frames() []seenFrame {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]seenFrame(nil), w.frames...)
}

func words(line int, ws ...any) []messages.Box {
	var out []messages.Box
	for i := 0; i+5 <= len(ws); i += 5 {
		out = append(out, messages.Box{Text: ws[i].(string), X: ws[i+1].(int), Y: ws[i+2].(int),
			W: ws[i+3].(int), H: ws[i+4].(int), Level: "word", Line: line, Conf: 0.9})
	}
	return out
}

var (
	signinScene = append(
		words(1, "User", 10, 20, 30, 10, "name", 44, 20, 30, 10, "Your", 100, 21, 25, 10, "name", 130, 21,
			30, 10),
		words(2, "Sign", 100, 60, 25, 10, "in", 128, 60, 12, 10)...)
	welcomeScene = words(1, "Welcome,", 50, 50, 60, 12, "alice!", 114, 50, 40, 12)
)

// signinFlow shows the sign-in form until three actions have been done.
func signinFlow(version int) []messages.Box {
	if version < 3 {
		return signinScene
	}
	return welcomeScene
}

// harness runs Run against a real NATS server with a fake display.
type harness struct {
	t        *testing.T
	nc       *nats.Conn
	screen   *fakeScreen
	input    *fakeInput
	progress chan messages.Progress
	progSub  *nats.Subscription
	logs     *syncBuffer
	httpAddr string
	cancel   context.CancelFunc
	done     chan error
}

func newHarness(t *testing.T) *harness {
	ns := startServer(t, 0)
	screen := &fakeScreen{w: 320, h: 200}
	h := &harness{t: t, nc: connect(t, ns), screen: screen, input: &fakeInput{screen: screen},
		progress: make(chan messages.Progress, 100), logs: &syncBuffer{}, done: make(chan error, 1)}
	h.collectProgress()

	ready := make(chan string, 1)
	cfg := Config{NATSURL: ns.ClientURL(), Sandbox: "sb-test", Display: ":fake", WorkDir: t.TempDir(),
		HTTPAddr: "127.0.0.1:0", InferTimeout: time.Second,
		OpenScreen: func(string) (Screen, error) { return h.screen, nil },
		OpenInput:  func(string) (Input, error) { return h.input, nil },
		OnReady:    func(addr string) { ready <- addr }}
	ctx, cancel := context.WithCancel(t.Context())
	h.cancel = cancel
	go func() { h.done <- Run(ctx, cfg, logging.NewTo(h.logs, "agentd", logging.FormatJSON, "debug")) }()
	select {
	case h.httpAddr = <-ready:
	case err := <-h.done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("agent not ready")
	}
	t.Cleanup(func() { h.stop() })
	return h
}

// collectProgress acknowledges every progress message and queues it.
func (h *harness) collectProgress() {
	var err error
	if h.progSub, err = h.nc.Subscribe(messages.NewSubjects("").AllProgress(), func(m *nats.Msg) {
		var p messages.Progress
		if err := messages.Decode(m.Data, &p); err != nil {
			h.t.Errorf("progress: %v", err)
		}
		h.progress <- p
		_ = m.Respond(nil)
	}); err != nil {
		h.t.Fatal(err)
	}
	if err := h.nc.Flush(); err != nil {
		h.t.Fatal(err)
	}
}

// stop cancels Run and returns its result.
func (h *harness) stop() error {
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err // later calls see it too
		return err
	case <-time.After(15 * time.Second):
		h.t.Fatal("Run did not return after cancel")
		return nil
	}
}

func (h *harness) assign(data []byte) messages.AssignReply {
	h.t.Helper()
	msg, err := h.nc.Request(messages.NewSubjects("").Assign("sb-test"), data, 5*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	var r messages.AssignReply
	if err := messages.Decode(msg.Data, &r); err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *harness) assignTask(task messages.Task, attempt int) messages.AssignReply {
	h.t.Helper()
	data, err := messages.Encode(&messages.Assignment{V: 1, Task: task, Attempt: attempt, Sandbox: "sb-test"})
	if err != nil {
		h.t.Fatal(err)
	}
	return h.assign(data)
}

// final waits for the task's final progress and returns the step reports
// that came before it.
func (h *harness) final(limit time.Duration) ([]messages.StepResult, messages.Progress) {
	h.t.Helper()
	var steps []messages.StepResult
	timeout := time.After(limit)
	for {
		select {
		case p := <-h.progress:
			if p.Done {
				return steps, p
			}
			steps = append(steps, p.Step)
		case <-timeout:
			h.t.Fatalf("no final progress within %s; logs:\n%s", limit, h.logs)
		}
	}
}

func newTask(id string, steps ...messages.Step) messages.Task {
	return messages.Task{ID: id, App: messages.App{Command: []string{"sleep", "300"}, Width: 320, Height: 200},
		Deadline: messages.Duration(time.Minute), Steps: steps}
}

func step(action messages.Action, t *messages.Target) messages.Step {
	return messages.Step{Action: action, Target: t}
}

func TestTaskRunsStepsAndReports(t *testing.T) {
	h := newHarness(t)
	worker := startWorker(t, h.nc, byVersion(signinFlow))
	task := newTask("login-1",
		step(messages.ActionWaitFor, &messages.Target{Text: "Sign in"}),
		step(messages.ActionClick, &messages.Target{RightOf: "User name"}),
		messages.Step{Action: messages.ActionType, Text: "hunter2"},
		messages.Step{Action: messages.ActionKey, Keys: "Return"},
		step(messages.ActionAssert, &messages.Target{Text: "Welcome, alice"}))
	if r := h.assignTask(task, 1); !r.Accepted {
		t.Fatalf("assignment refused: %+v", r)
	}

	steps, final := h.final(20 * time.Second)
	if !final.OK || final.Code != 0 || final.Steps != 5 || final.Attempt != 1 || final.Sandbox != "sb-test" {
		t.Fatalf("final = %+v", final)
	}
	var details []string
	for i, s := range steps {
		if s.Index != i || !s.OK {
			t.Errorf("step %d = %+v", i, s)
		}
		details = append(details, s.Detail)
	}
	want := []string{`found "Sign in"`, `clicked "Your" at (112,26)`, "typed 7 characters", "pressed Return",
		`found "Welcome, alice!"`}
	if !reflect.DeepEqual(details, want) {
		t.Errorf("details = %q\nwant      %q", details, want)
	}
	if calls := h.input.Calls(); !reflect.DeepEqual(calls, []string{"click 112,26 button 1", "type 7",
		"key Return"}) {
		t.Errorf("input calls = %q", calls)
	}
	// The click reused the wait_for frame (no action between them); the
	// assert's frame was captured after all three actions.
	frames := worker.Frames()
	checkFrames(t, frames)
	if len(frames) != 2 || frames[1].lastAction != 3 {
		t.Errorf("frames = %+v, want two, the second after action 3", frames)
	}

	if err := h.stop(); err != nil {
		t.Fatalf("Run = %v, want nil after a clean stop", err)
	}
	logs := h.logs.String()
	if strings.Contains(logs, "hunter2") {
		t.Error("the typed text appears in the logs")
	}
	for _, event := range []string{"agent_ready", "task_accepted", "app_started", "step_done", "task_finished", "agent_stopped"} {
		if !strings.Contains(logs, `"event":"`+event+`"`) {
			t.Errorf("no %s event in the logs", event)
		}
	}
}

// checkFrames asserts that every frame was captured after the action it
// claims to follow, with increasing sequence numbers (C06).
func checkFrames(t *testing.T, frames []seenFrame) {
	t.Helper()
	for i, f := range frames {
		if int(f.lastAction) != f.version {
			t.Errorf("frame %d says last action %d but was captured after %d actions", f.seq, f.lastAction,
				f.version)
		}
		if i > 0 && f.seq <= frames[i-1].seq {
			t.Errorf("frame sequence %d after %d", f.seq, frames[i-1].seq)
		}
	}
}

func TestFailureExplainsWhatWasSeen(t *testing.T) {
	h := newHarness(t)
	worker := startWorker(t, h.nc, byVersion(signinFlow))
	click := step(messages.ActionClick, &messages.Target{Text: "Sing in"})
	click.Timeout = messages.Duration(time.Second)
	h.assignTask(newTask("typo-1", step(messages.ActionWaitFor, &messages.Target{Text: "Sign in"}), click), 2)

	steps, final := h.final(20 * time.Second)
	if final.OK || final.Code != messages.CodeTargetNotFound {
		t.Fatalf("final = %+v, want code %d", final, messages.CodeTargetNotFound)
	}
	wantErr := `step 2 (click text "Sing in"): no box matches text "Sing in"; closest seen: "Sign in", `
	if !strings.HasPrefix(final.Error, wantErr) || !strings.HasSuffix(final.Error,
		`; seen: "User name Your name", "Sign in"`) {
		t.Errorf("error = %q", final.Error)
	}
	if !reflect.DeepEqual(final.Seen, []string{"User name Your name", "Sign in"}) {
		t.Errorf("seen = %q", final.Seen)
	}
	if len(steps) != 2 || steps[1].OK || !strings.HasPrefix(steps[1].Error, wantErr) || steps[1].Detail != "" {
		t.Errorf("step reports = %+v", steps)
	}
	// Nothing happened between the steps: the screen did not change, so
	// the second step reused the first frame's boxes instead of sending more.
	if n := len(worker.Frames()); n != 1 || steps[1].Frames < 2 {
		t.Errorf("%d frames sent, step 2 looked %d times; want 1 sent and several looks", n, steps[1].Frames)
	}
}

func TestAssertions(t *testing.T) {
	loading := func(version int) []messages.Box {
		if version == 0 {
			return words(1, "Loading...", 10, 10, 80, 12, "Go", 10, 40, 20, 12)
		}
		return words(1, "Done", 10, 10, 40, 12)
	}
	absent := step(messages.ActionAssertAbsent, &messages.Target{Text: "Loading"})
	absent.Timeout = messages.Duration(500 * time.Millisecond)
	missing := step(messages.ActionAssert, &messages.Target{Text: "Finished"})
	missing.Timeout = messages.Duration(300 * time.Millisecond)
	tests := []struct {
		name  string
		steps []messages.Step
		code  messages.Code
		error string
	}{
		{"absent after a click", []messages.Step{step(messages.ActionClick,
			&messages.Target{Text: "go"}), absent}, 0, ""},
		{"still there", []messages.Step{absent}, messages.CodeAssertFailed,
			`step 1 (assert_absent text "Loading"): "Loading..." is still on screen at (50,16)`},
		{"assert fails", []messages.Step{missing}, messages.CodeAssertFailed,
			`step 1 (assert text "Finished"): no box matches text "Finished"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			startWorker(t, h.nc, byVersion(loading))
			h.assignTask(newTask("assert-1", tt.steps...), 1)
			_, final := h.final(20 * time.Second)
			if final.Code != tt.code || !strings.HasPrefix(final.Error, tt.error) {
				t.Fatalf("final = code %d %q, want code %d %q", final.Code, final.Error, tt.code, tt.error)
			}
		})
	}
}

func TestBusyStopAndDuplicateAssignments(t *testing.T) {
	h := newHarness(t)
	startWorker(t, h.nc, byVersion(signinFlow))
	wait := step(messages.ActionWaitFor, &messages.Target{Text: "never shown"})
	wait.Timeout = messages.Duration(time.Minute)
	task := newTask("long-1", wait)
	if r := h.assignTask(task, 1); !r.Accepted {
		t.Fatalf("first assignment refused: %+v", r)
	}
	if r := h.assignTask(task, 1); !r.Accepted {
		t.Errorf("a resent assignment of the running task was refused: %+v", r)
	}
	other := newTask("other-1", wait)
	if r := h.assignTask(other, 1); r.Accepted || r.Code != messages.CodeSandboxFailed ||
		r.Error != "sandbox sb-test is busy with task long-1" {
		t.Errorf("second task: %+v, want refused as busy", r)
	}

	pid := appPid(t, h)
	if err := h.stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	_, final := h.final(time.Second)
	if !final.Done || final.Code != messages.CodeSandboxFailed || !strings.Contains(final.Error,
		"agent stopped") {
		t.Errorf("final = %+v, want agent stopped", final)
	}
	if !gone(pid) {
		t.Errorf("app %d still runs after the agent stopped", pid)
	}
}

// appPid reads the app's pid from the "app started" log line.
func appPid(t *testing.T, h *harness) int {
	re := regexp.MustCompile(`"event":"app_started"[^\n]*"pid":(\d+)`)
	var m []string
	waitUntil(t, 10*time.Second, "app started", func() bool {
		m = re.FindStringSubmatch(h.logs.String())
		return m != nil
	})
	pid, _ := strconv.Atoi(m[1])
	return pid
}

func TestTaskEnds(t *testing.T) {
	never := step(messages.ActionWaitFor, &messages.Target{Text: "never shown"})
	never.Timeout = messages.Duration(time.Minute)
	crash := newTask("crash-1", never)
	crash.App.Command = []string{"sh", "-c", "echo 'cannot open display' >&2; exit 3"}
	late := newTask("late-1", never)
	late.Deadline = messages.Duration(700 * time.Millisecond)
	short := step(messages.ActionWaitFor, &messages.Target{Text: "Sign in"})
	short.Timeout = messages.Duration(800 * time.Millisecond)

	tests := []struct {
		name    string
		task    messages.Task
		noInfer bool
		typeErr error
		code    messages.Code
		error   string
	}{
		{"app exits", crash, false, nil, messages.CodeAppFailed,
			`step 1 (wait_for text "never shown"): app sh exited early: exit status 3 (log: "cannot open display")`},
		{"deadline", late, false, nil, messages.CodeDeadline,
			`step 1 (wait_for text "never shown"): task deadline 700ms exceeded`},
		{"no worker", newTask("idle-1", short), true, nil, messages.CodeBackendNotReady,
			`step 1 (wait_for text "Sign in"): no inference worker for model "ocr"`},
		{"no focus", newTask("focus-1", messages.Step{Action: messages.ActionType, Text: "x"}), false,
			actuate.ErrNoFocus, messages.CodeActionFailed,
			`step 1 (type 1 characters): action failed: actuate: no window has input focus`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.input.typeErr = tt.typeErr
			if !tt.noInfer {
				startWorker(t, h.nc, byVersion(signinFlow))
			}
			start := time.Now()
			h.assignTask(tt.task, 1)
			_, final := h.final(20 * time.Second)
			if final.Code != tt.code || !strings.HasPrefix(final.Error, tt.error) {
				t.Fatalf("final = code %d %q\nwant code %d %q", final.Code, final.Error, tt.code, tt.error)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %s to fail", took)
			}
		})
	}
}

func TestInvalidAssignmentsAreRefused(t *testing.T) {
	h := newHarness(t)
	noID := newTask("", step(messages.ActionWaitFor, &messages.Target{Text: "x"}))
	bad := newTask("bad-1", messages.Step{Action: messages.ActionClick})
	wrong, _ := messages.Encode(&messages.Assignment{Task: newTask("t-1", noID.Steps...), Sandbox: "sb-other"})
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"garbage", []byte("{not msgpack"), "cannot parse assignment"},
		{"wrong sandbox", wrong, "assignment for sandbox sb-other reached sandbox sb-test"},
		{"no task id", encodeAssignment(t, noID), `task id "" cannot be a subject token`},
		{"invalid step", encodeAssignment(t, bad), "steps[0].target: missing"},
	}
	for _, tt := range tests {
		r := h.assign(tt.data)
		if r.Accepted || r.Code != messages.CodeInvalidTask || !strings.Contains(r.Error, tt.want) {
			t.Errorf("%s: reply %+v, want refused with %q", tt.name, r, tt.want)
		}
	}
}

func encodeAssignment(t *testing.T, task messages.Task) []byte {
	data, err := messages.Encode(&messages.Assignment{Task: task, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestHTTPEndpoints(t *testing.T) {
	h := newHarness(t)
	startWorker(t, h.nc, byVersion(signinFlow))
	h.assignTask(newTask("m-1", step(messages.ActionWaitFor, &messages.Target{Text: "Sign in"})), 1)
	h.final(20 * time.Second)

	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  "ok",
		"/metrics": `sf_agent_frames_total 1`,
	} {
		resp, err := http.Get("http://" + h.httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %q, want 200 with %q", path, resp.StatusCode, body, want)
		}
	}
	resp, err := http.Get("http://" + h.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, series := range []string{`sf_agent_step_seconds_count{action="wait_for",outcome="ok"} 1`,
		`sf_agent_stage_seconds_count{stage="publish_to_reply"} 1`,
		`sf_agent_stage_seconds_count{stage="decode"} 1`, `sf_agent_tasks_total{outcome="ok"} 1`,
		`sf_agent_infer_requests_total{outcome="ok"} 1`} {
		if !strings.Contains(string(body), series) {
			t.Errorf("metrics lack %s", series)
		}
	}
}

func TestFinalProgressIsRetriedUntilAcknowledged(t *testing.T) {
	h := newHarness(t)
	startWorker(t, h.nc, byVersion(signinFlow))
	if err := h.progSub.Unsubscribe(); err != nil { // the dispatcher is away
		t.Fatal(err)
	}
	h.assignTask(newTask("away-1", step(messages.ActionWaitFor, &messages.Target{Text: "Sign in"})), 1)
	waitUntil(t, 10*time.Second, "the task to finish", func() bool {
		return strings.Contains(h.logs.String(), `"event":"task_finished"`)
	})

	h.collectProgress() // the dispatcher is back
	_, final := h.final(10 * time.Second)
	if !final.Done || !final.OK || final.Task != "away-1" {
		t.Fatalf("final = %+v", final)
	}
}
