package messages

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

const goodTask = `{
  "id": "signin-001",
  "app": {"command": ["firefox-esr", "http://127.0.0.1:8088/login.html"], "width": 1024, "height": 768},
  "deadline": "2m",
  "unknown_field": {"ignored": true},
  "steps": [
    {"action": "wait_for", "target": {"text": "Sign in"}, "timeout": "20s"},
    {"action": "click", "target": {"right_of": "User name"}},
    {"action": "type", "text": "alice"},
    {"action": "key", "keys": "Return"},
    {"action": "assert", "target": {"text": "Welcome, alice", "match": "contains"}}
  ]
}`

func TestDecodeTaskJSON(t *testing.T) {
	task, err := DecodeTask([]byte(goodTask))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if task.ID != "signin-001" || len(task.Steps) != 5 || task.Deadline.D() != 2*time.Minute {
		t.Fatalf("unexpected task: %+v", task)
	}
	if task.Steps[0].TimeoutOrDefault() != 20*time.Second || task.Steps[1].TimeoutOrDefault() != DefaultStepTimeout {
		t.Fatalf("timeouts: %v %v", task.Steps[0].Timeout, task.Steps[1].Timeout)
	}
	if task.Steps[1].Target.RightOf != "User name" || task.Model != DefaultModel || task.V != Version {
		t.Fatalf("fields: %+v", task)
	}
}

func TestDecodeTaskMsgpackRoundTrip(t *testing.T) {
	want, err := DecodeTask([]byte(goodTask))
	if err != nil {
		t.Fatal(err)
	}
	b, err := msgpack.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTask(b)
	if err != nil {
		t.Fatalf("decode msgpack: %v", err)
	}
	if got.Deadline != want.Deadline || got.Steps[0].Timeout != want.Steps[0].Timeout ||
		got.Steps[4].Target.Match != MatchContains || got.App.Width != 1024 {
		t.Fatalf("round trip lost fields: %+v", got)
	}
}

func TestDecodeTaskDefaults(t *testing.T) {
	task, err := DecodeTask([]byte(`{"app":{"command":["xterm"]},"steps":[{"action":"sleep","for":"1s"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if task.App.Width != DefaultWidth || task.App.Height != DefaultHeight || task.Deadline.D() != DefaultDeadline {
		t.Fatalf("defaults not filled: %+v", task)
	}
}

// TestDecodeTaskBadInput lists what a user sees for each malformed task.
func TestDecodeTaskBadInput(t *testing.T) {
	app := `"app":{"command":["firefox-esr"]}`
	cases := []struct{ name, in, want string }{
		{"empty", ``, "empty payload"},
		{"not json", `{"id": `, "task JSON line 1, column 7: unexpected end"},
		{"garbage msgpack", "\xc1\xc1", "cannot parse task"},
		{"plain words", "garbage", "text that is not a JSON object (a task starts with '{') nor msgpack"},
		{"wrong type", `{"app":{"command":"firefox"},"steps":[]}`, "app.command: want a list"},
		{"no command", `{"steps":[{"action":"sleep","for":"1s"}]}`, "app.command: missing"},
		{"no steps", `{` + app + `}`, "steps: missing"},
		{"empty steps", `{` + app + `,"steps":[]}`, "steps: missing"},
		{"unknown action", `{` + app + `,"steps":[{"action":"jump"}]}`, `steps[0].action: unknown action "jump"`},
		{"missing action", `{` + app + `,"steps":[{"text":"x"}]}`, "steps[0].action: missing"},
		{"no target", `{` + app + `,"steps":[{"action":"click"}]}`, "steps[0].target: missing"},
		{"empty target", `{` + app + `,"steps":[{"action":"click","target":{}}]}`, "steps[0].target: no selector"},
		{"bad match", `{` + app + `,"steps":[{"action":"click","target":{"text":"a","match":"fuzzy"}}]}`,
			`target.match: unknown mode "fuzzy"`},
		{"bad regex", `{` + app + `,"steps":[{"action":"click","target":{"text":"(","match":"regex"}}]}`,
			"target.text: invalid regex"},
		{"type no text", `{` + app + `,"steps":[{"action":"type"}]}`, "steps[0].text: missing"},
		{"key no keys", `{` + app + `,"steps":[{"action":"key"}]}`, "steps[0].keys: missing"},
		{"bad duration", `{` + app + `,"deadline":"soon","steps":[{"action":"sleep","for":"1s"}]}`,
			`invalid duration "soon"`},
		{"bad id", `{"id":"a.b",` + app + `,"steps":[{"action":"sleep","for":"1s"}]}`, `id "a.b"`},
		{"huge display", `{"app":{"command":["x"],"width":100000},"steps":[{"action":"sleep","for":"1s"}]}`,
			"app.width/height"},
		{"bad profile", `{"app":{"command":["x"],"profile":"a b"},"steps":[{"action":"sleep","for":"1s"}]}`,
			`app.profile "a b"`},
		{"bad offset", `{` + app + `,"steps":[{"action":"click","target":{"text":"a","offset":[1]}}]}`,
			"target.offset"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeTask([]byte(c.in))
			if err == nil {
				t.Fatalf("no error for %q", c.in)
			}
			if !errors.Is(err, ErrInvalidTask) || CodeOf(err) != CodeInvalidTask {
				t.Errorf("error %v does not carry ErrInvalidTask", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestStateTransitions(t *testing.T) {
	if !StateQueued.CanMoveTo(StateAssigned, false) || !StateRunning.CanMoveTo(StateSucceeded, false) {
		t.Fatal("forward moves refused")
	}
	if StateRunning.CanMoveTo(StateAssigned, false) || StateSucceeded.CanMoveTo(StateFailed, false) {
		t.Fatal("backward or final moves allowed")
	}
	if !StateRunning.CanMoveTo(StateQueued, true) || StateFailed.CanMoveTo(StateQueued, true) {
		t.Fatal("retry rules wrong")
	}
}

func TestErrorCodesCrossTheWire(t *testing.T) {
	sent := Errorf(CodeTargetNotFound, "no box matches %q", "Sign in")
	got := FromWire(CodeOf(sent), sent.Error())
	if !errors.Is(got, ErrTargetNotFound) || errors.Is(got, ErrAssertFailed) {
		t.Fatalf("sentinel lost: %v", got)
	}
	if CodeOf(nil) != CodeOK || FromWire(CodeOK, "") != nil {
		t.Fatal("nil handling")
	}
	if CodeOf(errors.New("plain")) != CodeInternal {
		t.Fatal("plain errors must map to internal")
	}
}

func TestSubjects(t *testing.T) {
	s := NewSubjects("")
	if s.Infer("ocr", "sb1") != "sf.infer.ocr.sb1" || s.InferAll("ocr") != "sf.infer.ocr.*" {
		t.Fatal(s.Infer("ocr", "sb1"))
	}
	if NewSubjects("tenant1.sf.").TaskSubmit() != "tenant1.sf.tasks.submit" {
		t.Fatal("prefix not applied")
	}
	if CheckToken("sandbox", "a.b") == nil || CheckToken("sandbox", "ok-1") != nil {
		t.Fatal("token check")
	}
}

func FuzzDecodeTask(f *testing.F) {
	f.Add([]byte(goodTask))
	f.Add([]byte(`{"app":{"command":["x"]},"steps":[{"action":"click","target":{"text":"(","match":"regex"}}]}`))
	if b, err := msgpack.Marshal(Task{App: App{Command: []string{"x"}},
		Steps: []Step{{Action: ActionKey, Keys: "a"}}}); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		task, err := DecodeTask(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidTask) {
				t.Fatalf("error without ErrInvalidTask: %v", err)
			}
			return
		}
		if len(task.Steps) == 0 || len(task.App.Command) == 0 {
			t.Fatalf("invalid task accepted: %+v", task)
		}
	})
}

func FuzzDecodeFrame(f *testing.F) {
	fr := Frame{Codec: CodecPNG, Width: 10, Height: 10, Data: []byte{1, 2, 3}}
	// C14: a frame whose data is in the object store.
	byRef := Frame{Codec: CodecPNG, Width: 10, Height: 10,
		Ref: &FrameRef{Bucket: FramesBucket, Name: "sb-1/7", Size: 2_000_000}}
	for _, seed := range []Frame{fr, byRef} {
		if b, err := msgpack.Marshal(seed); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeFrame(data)
		if err == nil && got.Validate() != nil {
			t.Fatal("invalid frame accepted")
		}
		if err == nil && got.Ref != nil && (len(got.Data) > 0 || got.Ref.Size <= 0 ||
			got.Ref.Size > MaxFrameRefSize) {
			t.Fatalf("frame reference %+v with %d inline bytes accepted", *got.Ref, len(got.Data))
		}
	})
}
