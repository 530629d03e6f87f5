package messages

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// fuzzDecode checks that any input decodes into a T or fails, without a
// panic, and that what decodes encodes again and passes check.
func fuzzDecode[T any](f *testing.F, check func(*T), seeds ...T) {
	for _, s := range seeds {
		if b, err := msgpack.Marshal(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{0x80})
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}) // an array claiming 4G elements
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff}) // a map claiming 4G entries
	f.Fuzz(func(t *testing.T, data []byte) {
		var v T
		if err := Decode(data, &v); err != nil {
			return
		}
		if _, err := Encode(v); err != nil {
			t.Fatalf("decoded %T does not encode: %v", v, err)
		}
		if check != nil {
			check(&v)
		}
	})
}

// FuzzDecodeDetections: a worker's reply, read by agents.
func FuzzDecodeDetections(f *testing.F) {
	// Any code maps to an error without a panic.
	errOf := func(d *Detections) { _ = d.Err() }
	fuzzDecode(f, errOf, Detections{Seq: 3, Status: StatusOK, Boxes: []Box{{X: 1, Y: 2, W: 3, H: 4,
		Text: "Sign in"}}},
		Detections{Status: StatusError, Code: CodeBadFrame, Error: "bad frame"})
}

// FuzzDecodeProgress: an agent's report, read by the dispatcher.
func FuzzDecodeProgress(f *testing.F) {
	fuzzDecode(f, nil, Progress{Task: "t", Steps: 2, Step: StepResult{Index: 1, Action: ActionClick, OK: true,
		Stages: map[string]Duration{"capture": Duration(5)}}}, Progress{Done: true, Seen: []string{"a"}})
}

// FuzzDecodeAssignReply: an agent's answer, read by the dispatcher.
func FuzzDecodeAssignReply(f *testing.F) {
	fuzzDecode(f, nil, AssignReply{Accepted: true}, AssignReply{Code: CodeInvalidTask, Error: "no"})
}

// FuzzDecodeTaskStatus: a task's state in KV, read by sfctl and dispatchers.
func FuzzDecodeTaskStatus(f *testing.F) {
	fuzzDecode(f, nil, TaskStatus{ID: "t", State: StateRunning, Attempt: 1})
}
