package recording

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"golang.org/x/net/html"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// replay loads sel and replays it through model ("" = as recorded).
func (s *system) replay(sel Selection, model string) *Result {
	s.t.Helper()
	rec, err := Load(ctx(s.t), s.js, subj, sel)
	if err != nil {
		s.t.Fatal(err)
	}
	res, err := NewReplayer(s.nc, subj, zerolog.Nop()).Replay(ctx(s.t), rec, ReplayConfig{Model: model})
	if err != nil {
		s.t.Fatal(err)
	}
	return res
}

func TestReplayThroughSameModelReportsNoChange(t *testing.T) {
	s := newSystem(t, Config{})
	before := time.Now()
	s.run("t1", "sb1", "", 3, true, false)
	s.run("other", "sb1", "", 2, true, false) // same sandbox, later task

	stored := s.framesStored(t)
	res := s.replay(Selection{Task: "t1"}, "")
	if after := s.framesStored(t); after != stored {
		t.Fatalf("FRAMES held %d frames before the replay and %d after: the replay was recorded", stored, after)
	}
	if len(res.Frames) != 3 {
		t.Fatalf("replayed %d frames, want 3", len(res.Frames))
	}
	for _, f := range res.Frames {
		if f.Recorded.Frame.Task != "t1" || f.Recorded.Detections == nil || f.Error != "" {
			t.Fatalf("frame %+v: task %s, detections %v, error %q", f.Recorded.Frame.Seq,
				f.Recorded.Frame.Task, f.Recorded.Detections, f.Error)
		}
	}
	if res.FramesChanged() != 0 || res.TargetsChanged() != 0 || countTargets(res) != 1 {
		t.Fatalf("changed frames %d, targets %d of %d", res.FramesChanged(), res.TargetsChanged(),
			countTargets(res))
	}
	var out bytes.Buffer
	if err := WriteSummary(&out, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "0 changed; 1 recorded targets, 0 changed") ||
		!strings.Contains(out.String(), `same text "Sign in"`) {
		t.Fatalf("summary:\n%s", out.String())
	}

	byRange := s.replay(Selection{Sandbox: "sb1", From: before, To: time.Now()}, "")
	if len(byRange.Frames) != 5 || byRange.FramesChanged() != 0 {
		t.Fatalf("sandbox range replayed %d frames (want 5), %d changed", len(byRange.Frames),
			byRange.FramesChanged())
	}
}

func TestReplayThroughOtherModelReportsChangedBoxesAndTarget(t *testing.T) {
	s := newSystem(t, Config{})
	s.run("t2", "sb2", "", 2, false, false)

	res := s.replay(Selection{Task: "t2"}, modelB)
	if res.FramesChanged() != 2 {
		t.Fatalf("%d frames changed, want 2", res.FramesChanged())
	}
	d := res.Frames[0].Diff
	if d.Moved+d.Removed+d.Added == 0 || d.Same == len(fixedBoxes()) {
		t.Fatalf("diff %+v shows no moved boxes", d)
	}
	if res.TargetsChanged() != 1 {
		t.Fatalf("%d targets changed, want 1", res.TargetsChanged())
	}
	c := res.Frames[1].Targets[0]
	if !c.Found || c.X != c.Action.X+shiftX || c.Y != c.Action.Y {
		t.Fatalf("target check %+v: want the point moved right by %d", c, shiftX)
	}
	var out bytes.Buffer
	_ = WriteSummary(&out, res)
	if !strings.Contains(out.String(), "CHANGED") {
		t.Fatalf("summary does not flag the changed target:\n%s", out.String())
	}

	dir := t.TempDir()
	path, err := WriteReport(dir, res)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, path, 2)
	checkExport(t, res.Recording)
}

// checkReport parses the HTML report and asserts each frame is there with
// its image and both kinds of boxes.
func checkReport(t *testing.T, path string, frames int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	var images []string
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		cls := attr(n, "class")
		count[n.Data+"."+cls]++
		if n.Data == "image" {
			images = append(images, attr(n, "href"))
		}
	}
	if count["p.run"] != 1 || count["b.bad"] == 0 { // one failed run
		t.Fatalf("report does not say how the run ended: %v", count)
	}
	if count["section.frame changed"] != frames || count["rect.rec"] == 0 || count["rect.rep"] == 0 ||
		count["circle.click"] == 0 || count["circle.now"] == 0 || len(images) != frames {
		t.Fatalf("report has %v and %d images", count, len(images))
	}
	data, ok := strings.CutPrefix(images[0], "data:image/png;base64,")
	if raw, err := base64.StdEncoding.DecodeString(data); !ok || err != nil || !bytes.HasPrefix(raw,
		[]byte("\x89PNG")) {
		t.Fatalf("frame image is not an embedded PNG: %.60s", images[0])
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func checkExport(t *testing.T, rec *Recording) {
	t.Helper()
	dir := t.TempDir()
	if _, err := Export(dir, rec); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var idx Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Frames) != len(rec.Frames) || idx.Frames[0].Detections == nil {
		t.Fatalf("index has %d frames (want %d): %s", len(idx.Frames), len(rec.Frames), b)
	}
	png, err := os.ReadFile(filepath.Join(dir, idx.Frames[0].File))
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("exported frame %s: %v", idx.Frames[0].File, err)
	}
}

func TestOnFailureKeepsOnlyFailedRuns(t *testing.T) {
	s := newSystem(t, Config{})
	s.run("kept", "sb3", messages.RecordOnFailure, 2, false, false)
	s.run("dropped", "sb3", messages.RecordOnFailure, 2, true, false)
	s.run("never", "sb4", messages.RecordNever, 1, false, false)

	for _, task := range []string{"dropped", "never"} {
		eventually(t, 10*time.Second, task+" still recorded", func() bool {
			_, err := Load(ctx(t), s.js, subj, Selection{Task: task})
			return errors.Is(err, ErrNothingRecorded)
		})
	}
	rec, err := Load(ctx(t), s.js, subj, Selection{Task: "kept"})
	if err != nil || len(rec.Frames) != 2 {
		t.Fatalf("the failed run was not kept: %v", err)
	}
	if n := s.framesIn(t, "sb3"); n != 2 {
		t.Fatalf("FRAMES holds %d frames of sb3, want the 2 of the failed run", n)
	}
}

func (s *system) framesStored(t *testing.T) uint64 {
	st, err := s.js.Stream(ctx(t), messages.FramesStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func (s *system) framesIn(t *testing.T, sandbox string) int {
	st, err := s.js.Stream(ctx(t), messages.FramesStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx(t), jetstreamSubjects(subj.FramesOfSandbox(sandbox)))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n
}

func TestRetentionDropsOldFramesAndReplaySaysSo(t *testing.T) {
	s := newSystem(t, Config{MaxBytes: 200 << 10})
	from := time.Now()
	s.run("old", "sb5", "", 2, true, false)
	to := time.Now()
	s.run("new", "sb5", "", 8, true, true) // about 320 KB of frames

	_, err := Load(ctx(t), s.js, subj, Selection{Sandbox: "sb5", From: from, To: to})
	if !errors.Is(err, ErrFramesDropped) || !strings.Contains(err.Error(), "sandbox sb5 from") {
		t.Fatalf("load of a dropped range: %v, want ErrFramesDropped naming the range", err)
	}

	_, err = Load(ctx(t), s.js, subj, Selection{Task: "old"})
	if !errors.Is(err, ErrFramesDropped) {
		t.Fatalf("load of a dropped run: %v, want ErrFramesDropped", err)
	}
	for _, want := range []string{"task old", "its 2 frames were captured", "now starts at", "max bytes 204800"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
	rec, err := Load(ctx(t), s.js, subj, Selection{Task: "new"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Missing) == 0 || len(rec.Frames) == 0 || len(rec.Frames)+len(rec.Missing) != 8 {
		t.Fatalf("partly dropped run: %d frames, %d missing", len(rec.Frames), len(rec.Missing))
	}
}

func TestRecordingDecodesIdenticallyAfterServerRestart(t *testing.T) {
	s := newSystem(t, Config{})
	s.run("t6", "sb6", messages.RecordOnFailure, 3, false, false)
	before := snapshot(t, s)

	s.stop()
	s.start(Config{})
	after := snapshot(t, s)
	if !bytes.Equal(before, after) {
		t.Fatalf("recording changed across a restart:\n%x\n%x", before, after)
	}
}

// snapshot loads task t6 and encodes everything it holds canonically.
func snapshot(t *testing.T, s *system) []byte {
	rec, err := Load(ctx(t), s.js, subj, Selection{Task: "t6"})
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, f := range rec.Frames {
		fb, _ := messages.Encode(&f.Frame)
		db, err := messages.EncodeRecord(f.Detections)
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(out, fb...), db...)
		for i := range f.Actions {
			ab, _ := messages.EncodeRecord(&f.Actions[i])
			out = append(out, ab...)
		}
	}
	if len(rec.Frames) != 3 || len(rec.Runs) != 1 {
		t.Fatalf("loaded %d frames and %d runs", len(rec.Frames), len(rec.Runs))
	}
	return out
}

func TestReplayAtOriginalPace(t *testing.T) {
	s := newSystem(t, Config{})
	s.run("paced", "sb7", "", 1, true, false)
	time.Sleep(300 * time.Millisecond) // the gap the replay must keep
	s.run("paced", "sb7", "", 1, true, false)

	rec, err := Load(ctx(t), s.js, subj, Selection{Task: "paced"})
	if err != nil || len(rec.Frames) != 2 {
		t.Fatalf("load: %v", err)
	}
	gap := time.Duration(rec.Frames[1].Frame.CapturedAt - rec.Frames[0].Frame.CapturedAt)
	p := NewReplayer(s.nc, subj, zerolog.Nop())
	res, err := p.Replay(ctx(t), rec, ReplayConfig{Pace: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Took < gap {
		t.Fatalf("paced replay took %s, less than the recorded gap %s", res.Took, gap)
	}
}

func TestMaxAgeDropsFramesBeforeRecords(t *testing.T) {
	s := newSystem(t, Config{MaxAge: 500 * time.Millisecond})
	s.run("aged", "sb8", "", 2, false, false)
	if _, err := Load(ctx(t), s.js, subj, Selection{Task: "aged"}); err != nil {
		t.Fatalf("fresh run: %v", err)
	}
	eventually(t, 10*time.Second, "frames older than max age still stored", func() bool {
		return s.framesStored(t) == 0
	})
	_, err := Load(ctx(t), s.js, subj, Selection{Task: "aged"})
	if !errors.Is(err, ErrFramesDropped) || !strings.Contains(err.Error(), "max age 500ms") {
		t.Fatalf("load after max age: %v, want ErrFramesDropped naming the limit", err)
	}
	t.Log(err)
}

func TestReplayToMissingModelStopsAtOnce(t *testing.T) {
	s := newSystem(t, Config{})
	s.run("t9", "sb9", "", 3, true, false)
	rec, err := Load(ctx(t), s.js, subj, Selection{Task: "t9"})
	if err != nil {
		t.Fatal(err)
	}
	p := NewReplayer(s.nc, subj, zerolog.Nop())
	start := time.Now()
	_, err = p.Replay(ctx(t), rec, ReplayConfig{Model: "nobody", FrameTimeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrNoWorker) || !strings.Contains(err.Error(), `model "nobody"`) {
		t.Fatalf("replay to a model nobody serves: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("gave up after %s, not after the first frame", took)
	}
}

// Recording must not listen on the inference subjects: a stream there
// would count as a responder, and a request for a model nobody serves
// would wait for its timeout instead of failing at once.
func TestRecordingKeepsNoResponders(t *testing.T) {
	s := newSystem(t, Config{})
	start := time.Now()
	_, err := s.nc.Request(subj.Infer("nobody", "sb10"), []byte("frame"), 5*time.Second)
	if !errors.Is(err, nats.ErrNoResponders) || time.Since(start) > time.Second {
		t.Fatalf("request with no worker: %v after %s, want no responders at once", err, time.Since(start))
	}
}

// A replay can name one worker; every frame goes to it, and a name no
// worker has stops the replay at once.
func TestReplayThroughNamedWorker(t *testing.T) {
	s := newSystem(t, Config{})
	s.worker("ocr-next", 0)
	s.run("t7", "sb7", "", 3, true, false)
	rec, err := Load(ctx(t), s.js, subj, Selection{Task: "t7"})
	if err != nil {
		t.Fatal(err)
	}
	p := NewReplayer(s.nc, subj, zerolog.Nop())
	res, err := p.Replay(ctx(t), rec, ReplayConfig{Model: "ocr-next", Worker: "w-ocr-next"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Frames {
		if f.Worker != "w-ocr-next" || f.Error != "" {
			t.Fatalf("frame %d went to %q (error %q), want w-ocr-next", f.Recorded.Frame.Seq, f.Worker, f.Error)
		}
	}
	_, err = p.Replay(ctx(t), rec, ReplayConfig{Worker: "w-gone", FrameTimeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrNoWorker) {
		t.Fatalf("replay to a worker nobody runs: %v", err)
	}
}
