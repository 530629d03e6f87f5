package agent

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// recordLog collects what the agent publishes on the record subjects.
type recordLog struct {
	mu   sync.Mutex
	dets []messages.DetectionRecord
	acts []messages.ActionRecord
	ends []messages.TaskRecord
	raw  [][]byte
}

func collectRecords(t *testing.T, nc *nats.Conn) *recordLog {
	l := &recordLog{}
	_, err := nc.Subscribe(messages.NewSubjects("").RecordsAll(), func(m *nats.Msg) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.raw = append(l.raw, m.Data)
		var err error
		switch kind := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]; kind {
		case messages.RecordKindDetections:
			var d messages.DetectionRecord
			err = messages.Decode(m.Data, &d)
			l.dets = append(l.dets, d)
		case messages.RecordKindAction:
			var a messages.ActionRecord
			err = messages.Decode(m.Data, &a)
			l.acts = append(l.acts, a)
		case messages.RecordKindEnd:
			var e messages.TaskRecord
			err = messages.Decode(m.Data, &e)
			l.ends = append(l.ends, e)
		}
		if err != nil {
			t.Errorf("record on %s: %v", m.Subject, err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *recordLog) waitEnd(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		n := len(l.ends)
		l.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no end record")
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

func TestRunIsRecorded(t *testing.T) {
	h := newHarness(t)
	startWorker(t, h.nc, byVersion(signinFlow))
	recs := collectRecords(t, h.nc)
	task := newTask("rec-1",
		step(messages.ActionWaitFor, &messages.Target{Text: "Sign in"}),
		step(messages.ActionClick, &messages.Target{RightOf: "User name"}),
		messages.Step{Action: messages.ActionType, Text: "hunter2"},
		messages.Step{Action: messages.ActionKey, Keys: "Return"},
		step(messages.ActionAssert, &messages.Target{Text: "Welcome, alice"}))
	if r := h.assignTask(task, 1); !r.Accepted {
		t.Fatalf("assignment refused: %+v", r)
	}
	if _, final := h.final(20 * time.Second); !final.OK {
		t.Fatalf("final = %+v", final)
	}
	recs.waitEnd(t)
	recs.mu.Lock()
	defer recs.mu.Unlock()

	if len(recs.dets) != 2 || recs.dets[0].FrameSeq != 1 || recs.dets[1].FrameSeq != 2 ||
		!recs.dets[0].Ran() || recs.dets[1].Step != 4 {
		t.Fatalf("detection records = %+v", recs.dets)
	}
	if len(recs.acts) != 3 {
		t.Fatalf("action records = %+v, want wait_for, click, assert", recs.acts)
	}
	click := recs.acts[1]
	if click.Action != messages.ActionClick || click.Step != 1 || click.FrameSeq != 1 || click.X != 112 || click.Y != 26 ||
		click.Target == nil || click.Target.RightOf != "User name" {
		t.Fatalf("click record = %+v", click)
	}
	if end := recs.ends[0]; !end.OK || end.Frames != 2 || len(end.Steps) != 5 || end.Task != "rec-1" || end.Sandbox != "sb-test" {
		t.Fatalf("end record = %+v", end)
	}
	for _, b := range recs.raw {
		if bytes.Contains(b, []byte("hunter2")) {
			t.Fatal("a record carries the typed text")
		}
	}
}

func TestNeverRecordedRunPublishesOnlyItsEnd(t *testing.T) {
	h := newHarness(t)
	startWorker(t, h.nc, byVersion(signinFlow))
	recs := collectRecords(t, h.nc)
	task := newTask("rec-2", step(messages.ActionWaitFor, &messages.Target{Text: "Sign in"}))
	task.Record = messages.RecordNever
	if r := h.assignTask(task, 1); !r.Accepted {
		t.Fatalf("assignment refused: %+v", r)
	}
	h.final(20 * time.Second)
	recs.waitEnd(t)
	recs.mu.Lock()
	defer recs.mu.Unlock()
	if len(recs.dets)+len(recs.acts) != 0 || recs.ends[0].Record != messages.RecordNever || recs.ends[0].Frames != 1 {
		t.Fatalf("records: %d detections, %d actions, end %+v", len(recs.dets), len(recs.acts), recs.ends[0])
	}
}
