package sfctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// taskStream makes a TASKS stream on e's server, as a dispatcher would,
// with the given largest message (-1: the server's).
func (e *fleetEnv) taskStream(maxMsg int32) jetstream.Stream {
	e.t.Helper()
	js, err := jetstream.New(e.nc)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: messages.TasksStream,
		Subjects: []string{e.sub.TaskSubmit()}, Retention: jetstream.WorkQueuePolicy, MaxMsgSize: maxMsg})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func writeTask(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSubmitWarnsAboutUnknownFields: a misspelt optional field is ignored,
// as DESIGN.md has it, but sfctl says so, with where and what was meant.
func TestSubmitWarnsAboutUnknownFields(t *testing.T) {
	e := newFleetEnv(t)
	stream := e.taskStream(-1)
	typo := writeTask(t, "typo.json", `{"id":"typo-1","app":{"command":["x"]},"deadlin":"1m",
		"steps":[{"action":"key","keys":"a"},{"action":"key","keys":"b"},
			{"action":"click","target":{"text":"OK"},"taget":{"text":"Cancel"}}]}`)
	one := writeTask(t, "one.json",
		`{"id":"one-1","app":{"command":["x"]},"steps":[{"action":"key","keys":"a"}]}`)
	got := strings.ReplaceAll(e.run("submit", typo, one), filepath.Dir(typo), "DIR")
	got = strings.ReplaceAll(got, filepath.Dir(one), "DIR")
	want := `warning: DIR/typo.json: unknown field "deadlin" (ignored; did you mean "deadline"?)
warning: DIR/typo.json: steps[2]: unknown field "taget" (ignored; did you mean "target"?)
submitted typo-1 (3 steps)
submitted one-1 (1 step)
`
	if got != want {
		t.Errorf("\n got:\n%s\n want:\n%s", got, want)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Errorf("stream holds %d tasks, want 2", info.State.Msgs)
	}
}

// TestSubmitRefusesOversizedTask: the size is checked before anything is
// published, so the message says what to do instead of quoting the server.
func TestSubmitRefusesOversizedTask(t *testing.T) {
	e := newFleetEnv(t)
	stream := e.taskStream(-1)
	small := writeTask(t, "small.json",
		`{"id":"small","app":{"command":["x"]},"steps":[{"action":"key","keys":"a"}]}`)
	big := writeTask(t, "big.json", fmt.Sprintf(`{"id":"big","app":{"command":["x"]},
		"steps":[{"action":"type","text":%q}]}`, strings.Repeat("a", 2_000_000)))
	got := strings.ReplaceAll(e.run("submit", small, big), filepath.Dir(big), "DIR")
	want := "error: DIR/big.json: task big is 2.0 MB; a task may be at most 1 MiB " +
		"(large inputs belong in files the app opens, not in the task)\n"
	if got != want {
		t.Errorf("\n got  %q\n want %q", got, want)
	}
	if info, err := stream.Info(context.Background()); err != nil || info.State.Msgs != 0 {
		t.Errorf("a refused batch published something: %+v %v", info, err)
	}
	// Just over the limit, rounding would hide the excess: exact counts.
	task := messages.Task{ID: "edge", Steps: []messages.Step{{Action: messages.ActionType,
		Text: strings.Repeat("b", messages.MaxTaskBytes)}}}
	size := func() int {
		b, err := messages.Encode(task)
		if err != nil {
			t.Fatal(err)
		}
		return len(b) + msgIDHeaderBytes + len(task.ID)
	}
	// One byte over the limit, headers included.
	task.Steps[0].Text = task.Steps[0].Text[size()-messages.MaxTaskBytes-1:]
	if size() != messages.MaxTaskBytes+1 {
		t.Fatalf("test task is %d bytes", size())
	}
	_, err := encodeTask(task)
	want = fmt.Sprintf("task edge is %d bytes; a task may be at most 1 MiB (%d bytes) "+
		"(large inputs belong in files the app opens, not in the task)", messages.MaxTaskBytes+1,
		messages.MaxTaskBytes)
	if err == nil || err.Error() != want {
		t.Errorf("\n got  %v\n want %s", err, want)
	}
	task.Steps[0].Text = task.Steps[0].Text[1:]
	if _, err := encodeTask(task); err != nil {
		t.Errorf("a task of exactly %d bytes refused: %v", size(), err)
	}
}

// TestSubmitStreamRefusal: when the server refuses a task anyway (here a
// stream with a smaller limit than sfctl's), the error says so once, in
// words, without nats.go's doubled "nats: nats:".
func TestSubmitStreamRefusal(t *testing.T) {
	e := newFleetEnv(t)
	e.taskStream(1000)
	path := writeTask(t, "t.json", fmt.Sprintf(`{"id":"mid","app":{"command":["x"]},
		"steps":[{"action":"type","text":%q}]}`, strings.Repeat("a", 5000)))
	got := e.run("submit", path)
	want := "error: publish task mid: the stream refused it: " +
		"message size exceeds maximum allowed (error 10054)\n"
	if got != want {
		t.Errorf("\n got  %q\n want %q", got, want)
	}
}

func TestErrorTextSaysNatsOnce(t *testing.T) {
	err := fmt.Errorf("watch task x: %w", errors.New("nats: nats: nats: timeout"))
	if got := errorText(err); got != "watch task x: nats: timeout" {
		t.Errorf("errorText = %q", got)
	}
}

// TestProgressLinesStayWhole: off a terminal, a log line written while a
// part starts lands between progress lines, not inside one.
func TestProgressLinesStayWhole(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out)
	p.begin("inferd")
	out.WriteString(`{"level":"info","component":"inferd","message":"models ready"}` + "\n")
	p.end("196ms")
	p.begin("worker")
	p.end("failed")
	want := `{"level":"info","component":"inferd","message":"models ready"}
starting inferd… 196ms
starting worker… failed
`
	if out.String() != want {
		t.Errorf("\n got:\n%s\n want:\n%s", out.String(), want)
	}
}
