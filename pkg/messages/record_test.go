package messages

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

func sampleDetectionRecord() *DetectionRecord {
	return &DetectionRecord{V: Version, Task: "t1", Sandbox: "sb1", Attempt: 1, Step: 2, FrameSeq: 7,
		CapturedAt: 1700000000123456789, Model: "ocr", Status: DetectionsRan,
		Boxes:  []Box{{X: 1, Y: 2, W: 30, H: 10, Text: "Sign in", Conf: 0.9, Level: "word", Line: 1}},
		Labels: map[string]string{"worker": "w1", "gpu": "cpu", "model": "ocr", "b": "2", "a": "1", "zz": "3"},
		TookNs: 12345}
}

// C23: the same record encodes to the same bytes every time, map labels
// included.
func TestEncodeRecordIsDeterministic(t *testing.T) {
	distinct := map[string]bool{}
	for range 1000 {
		b, err := EncodeRecord(sampleDetectionRecord())
		if err != nil {
			t.Fatal(err)
		}
		distinct[string(b)] = true
	}
	if len(distinct) != 1 {
		t.Fatalf("1000 encodings gave %d distinct byte strings", len(distinct))
	}
}

func TestEncodeRecordDecodesToSameBytes(t *testing.T) {
	for _, v := range []any{sampleDetectionRecord(),
		&ActionRecord{V: Version, Task: "t1", Sandbox: "sb1", Step: 1, Action: ActionClick, Describe: "click",
			Target: &Target{Text: "Sign in", Offset: []int{3, 4}}, FrameSeq: 3, Box: Box{X: 1, W: 2, H: 3}, X: 2, Y: 1},
		&TaskRecord{V: Version, Task: "t1", Record: RecordOnFailure, Steps: []string{"a", "b"}, OK: true}} {
		first, err := EncodeRecord(v)
		if err != nil {
			t.Fatal(err)
		}
		again := newLike(t, v)
		if err := Decode(first, again); err != nil {
			t.Fatal(err)
		}
		second, err := EncodeRecord(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("%T: re-encoding after a decode changed the bytes:\n%x\n%x", v, first, second)
		}
	}
}

func newLike(t *testing.T, v any) any {
	switch v.(type) {
	case *DetectionRecord:
		return &DetectionRecord{}
	case *ActionRecord:
		return &ActionRecord{}
	case *TaskRecord:
		return &TaskRecord{}
	}
	t.Fatalf("unexpected %T", v)
	return nil
}

// C23: "ran, found nothing" and "did not run" survive a round trip through
// the status, whether the boxes were nil or empty when encoded.
func TestDetectionStatusSurvivesNilAndEmpty(t *testing.T) {
	cases := []struct {
		name   string
		status string
		boxes  []Box
		ran    bool
	}{
		{"ran, nil boxes", DetectionsRan, nil, true},
		{"ran, empty boxes", DetectionsRan, []Box{}, true},
		{"failed, nil boxes", DetectionsFailed, nil, false},
		{"failed, empty boxes", DetectionsFailed, []Box{}, false},
	}
	var ranBytes []byte
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := &DetectionRecord{V: Version, Task: "t", Status: c.status, Boxes: c.boxes}
			b, err := EncodeRecord(in)
			if err != nil {
				t.Fatal(err)
			}
			var out DetectionRecord
			if err := Decode(b, &out); err != nil {
				t.Fatal(err)
			}
			if out.Ran() != c.ran || out.Status != c.status || len(out.Boxes) != 0 {
				t.Fatalf("decoded status %q ran=%v boxes=%v", out.Status, out.Ran(), out.Boxes)
			}
			if c.ran && out.Boxes == nil {
				t.Fatal("a model that ran decoded with a nil box list")
			}
			if c.ran && ranBytes != nil && !bytes.Equal(b, ranBytes) {
				t.Fatal("nil and empty boxes of a model that ran encode differently")
			}
			if c.ran {
				ranBytes = b
			}
		})
	}
}

func TestRecordModeKeep(t *testing.T) {
	for _, c := range []struct {
		m        RecordMode
		ok, keep bool
	}{{"", true, true}, {RecordAlways, false, true}, {RecordNever, false, false},
		{RecordOnFailure, true, false}, {RecordOnFailure, false, true}} {
		if got := c.m.Keep(c.ok); got != c.keep {
			t.Errorf("%q.Keep(%v) = %v", c.m, c.ok, got)
		}
	}
	task := Task{App: App{Command: []string{"x"}}, Steps: []Step{{Action: ActionKey, Keys: "a"}}, Record: "sometimes"}
	task.Defaults()
	if err := task.Validate(); err == nil {
		t.Fatal("an unknown record mode was accepted")
	}
}

var updateGolden = flag.Bool("update", false, "rewrite the golden record bytes in testdata")

// The canonical bytes of a record are a contract with every tool that
// hashes or diffs recordings: they change only on purpose (go test
// -update), with the version bumped.
func TestDetectionRecordGoldenBytes(t *testing.T) {
	got, err := EncodeRecord(sampleDetectionRecord())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "detection_record.msgpack")
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("canonical bytes changed:\n got %x\nwant %x", got, want)
	}
}
