package messages

import (
	"bytes"
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"
)

// Names of the JetStream streams that keep recordings.
const (
	// FramesStream keeps a copy of every frame an agent sent for
	// inference (Subjects.Frame).
	FramesStream = "FRAMES"
	// RecordsStream keeps what the agents recorded: detections, actions and
	// task ends.
	RecordsStream = "RECORDS"
)

// RecordMode says whether a task's run is kept for replay.
type RecordMode string

// Record modes a task may ask for; empty means RecordAlways.
const (
	RecordAlways    RecordMode = "always"
	RecordNever     RecordMode = "never"
	RecordOnFailure RecordMode = "on_failure"
)

// Valid reports whether m is empty or one of the record modes.
func (m RecordMode) Valid() bool {
	switch m {
	case "", RecordAlways, RecordNever, RecordOnFailure:
		return true
	}
	return false
}

// Keep reports whether a run in mode m that ended with ok is kept.
func (m RecordMode) Keep(ok bool) bool {
	switch m {
	case RecordNever:
		return false
	case RecordOnFailure:
		return !ok
	}
	return true
}

// Kinds of record, the last token of a record subject.
const (
	RecordKindDetections = "det"
	RecordKindAction     = "act"
	RecordKindEnd        = "end"
)

// Detection record statuses. The status, never nil versus empty boxes, says
// whether the model ran (C23): DetectionsRan with no boxes means it ran and
// found nothing; DetectionsFailed means there are no detections at all.
const (
	DetectionsRan    = "ran"
	DetectionsFailed = "failed"
)

// DetectionRecord is what the model said about one frame, as the agent got
// it. Boxes are in the pixel space of the frame. It is encoded as an array
// (EncodeRecord), so its bytes are canonical.
type DetectionRecord struct {
	_msgpack   struct{}          `msgpack:",as_array"`
	V          int               `json:"v"`
	Task       string            `json:"task"`
	Sandbox    string            `json:"sandbox"`
	Attempt    int               `json:"attempt"`
	Step       int               `json:"step"` // 0-based index of the step that looked
	FrameSeq   uint64            `json:"frame_seq"`
	CapturedAt int64             `json:"captured_at"` // unix ns, as in the frame
	Model      string            `json:"model"`
	Status     string            `json:"status"` // DetectionsRan or DetectionsFailed
	Code       Code              `json:"code,omitempty"`
	Error      string            `json:"error,omitempty"`
	Boxes      []Box             `json:"boxes"`
	Labels     map[string]string `json:"labels,omitempty"` // worker, gpu
	TookNs     int64             `json:"took_ns"`          // request round trip seen by the agent
}

// ActionRecord is one thing the agent chose on screen: the step, the frame
// its boxes came from, the box chosen (display pixels) and the point acted
// on. Steps that only look (wait_for, assert) are recorded too.
type ActionRecord struct {
	_msgpack struct{} `msgpack:",as_array"`
	V        int      `json:"v"`
	Task     string   `json:"task"`
	Sandbox  string   `json:"sandbox"`
	Attempt  int      `json:"attempt"`
	Step     int      `json:"step"`
	Action   Action   `json:"action"`
	Describe string   `json:"describe"` // Step.Describe(); never typed text
	Target   *Target  `json:"target,omitempty"`
	FrameSeq uint64   `json:"frame_seq"`
	Box      Box      `json:"box"`
	X        int      `json:"x"`
	Y        int      `json:"y"`
	At       int64    `json:"at"` // unix ns
}

// TaskRecord closes a recorded run: how it ended and whether it is kept.
type TaskRecord struct {
	_msgpack  struct{}   `msgpack:",as_array"`
	V         int        `json:"v"`
	Task      string     `json:"task"`
	Sandbox   string     `json:"sandbox"`
	Attempt   int        `json:"attempt"`
	Record    RecordMode `json:"record"`
	Model     string     `json:"model"`
	Steps     []string   `json:"steps"` // Step.Describe() of each step
	OK        bool       `json:"ok"`
	Code      Code       `json:"code,omitempty"`
	Error     string     `json:"error,omitempty"`
	StartedAt int64      `json:"started_at"` // unix ns
	EndedAt   int64      `json:"ended_at"`
	Frames    uint64     `json:"frames"` // frames sent for inference
}

// Canonical makes the nil-versus-empty state of the boxes follow the status:
// a run that ran has a non-nil (possibly empty) list, a failed one has nil.
func (r *DetectionRecord) Canonical() {
	if r.Status == DetectionsRan && r.Boxes == nil {
		r.Boxes = []Box{}
	}
	if r.Status != DetectionsRan {
		r.Boxes = nil
	}
	if len(r.Labels) == 0 {
		r.Labels = nil
	}
}

// Ran reports whether the model ran on the frame (possibly finding nothing).
func (r *DetectionRecord) Ran() bool { return r.Status == DetectionsRan }

// EncodeRecord writes a record deterministically: records are msgpack
// arrays in field order, map keys are sorted bytewise, and a
// DetectionRecord is made Canonical first. The same record always gives the
// same bytes, so recordings can be hashed and compared.
func EncodeRecord(v any) ([]byte, error) {
	if d, ok := v.(*DetectionRecord); ok {
		d.Canonical()
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return buf.Bytes(), nil
}

// ToDisplay maps boxes from the pixel space of frame f to the display:
// display = crop + box/scale. It returns boxes itself when f is unscaled
// and uncropped.
func (f *Frame) ToDisplay(boxes []Box) []Box {
	if f.Scale == 1 && f.CropX == 0 && f.CropY == 0 {
		return boxes
	}
	scale := f.Scale
	if scale <= 0 {
		scale = 1
	}
	out := make([]Box, len(boxes))
	for i, b := range boxes {
		b.X = f.CropX + int(math.Round(float64(b.X)/scale))
		b.Y = f.CropY + int(math.Round(float64(b.Y)/scale))
		b.W = int(math.Round(float64(b.W) / scale))
		b.H = int(math.Round(float64(b.H) / scale))
		out[i] = b
	}
	return out
}
