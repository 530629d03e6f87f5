package recording

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/natsembed"
	"github.com/screenfleet/screenfleet/internal/target"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// The test models: modelA answers with fixedBoxes, modelB with the same
// boxes moved right by shiftX, as a retrained model might.
const (
	modelA = "ma"
	modelB = "mb"
	shiftX = 40
)

var subj = messages.NewSubjects("")

// fixedBoxes is what modelA sees on every frame: a label with a field to
// its right, and a button.
func fixedBoxes() []messages.Box {
	return []messages.Box{
		{X: 10, Y: 10, W: 60, H: 14, Text: "User", Level: "word", Line: 1, Conf: 0.9},
		{X: 100, Y: 8, W: 80, H: 18, Class: "input", Conf: 0.8},
		{X: 10, Y: 60, W: 40, H: 14, Text: "Sign", Level: "word", Line: 2, Conf: 0.9},
		{X: 54, Y: 60, W: 20, H: 14, Text: "in", Level: "word", Line: 2, Conf: 0.9},
	}
}

// system is an embedded server with recording started and fake workers.
type system struct {
	t    *testing.T
	dir  string
	srv  *natsembed.Server
	nc   *nats.Conn
	js   jetstream.JetStream
	rec  *Service
	subs []*nats.Subscription
}

func newSystem(t *testing.T, cfg Config) *system {
	t.Helper()
	s := &system{t: t, dir: t.TempDir()}
	s.start(cfg)
	t.Cleanup(s.stop)
	return s
}

func (s *system) start(cfg Config) {
	t := s.t
	srv, err := natsembed.Start(natsembed.Config{DataDir: s.dir, Port: -1, NoLog: true}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s.srv = srv
	if s.nc, err = nats.Connect(srv.ClientURL()); err != nil {
		t.Fatal(err)
	}
	s.js, _ = jetstream.New(s.nc)
	if s.rec, err = Start(ctx(t), s.js, subj, cfg, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	s.worker(modelA, 0)
	s.worker(modelB, shiftX)
}

func (s *system) stop() {
	if s.srv == nil {
		return
	}
	s.rec.Stop()
	s.nc.Close()
	s.srv.Shutdown()
	s.srv = nil
}

// worker answers model's frames with fixedBoxes moved right by dx, as a
// worker speaking screenfleet's protocol does.
func (s *system) worker(model string, dx int) {
	answer := func(m *nats.Msg) {
		f, err := messages.DecodeFrame(m.Data)
		det := messages.Detections{V: messages.Version, Seq: f.Seq, Model: model, Worker: "w-" + model,
			GPU: "cpu", Status: messages.StatusOK, Boxes: fixedBoxes()}
		if err != nil {
			det = messages.Detections{V: messages.Version, Status: messages.StatusError, Error: err.Error()}
		}
		for i := range det.Boxes {
			det.Boxes[i].X += dx
		}
		b, _ := messages.Encode(&det)
		_ = m.Respond(b)
	}
	// Like a real worker: in the model's queue group, and by name.
	sub, err := s.nc.QueueSubscribe(subj.InferAll(model), subj.InferQueue(model), answer)
	if err != nil {
		s.t.Fatal(err)
	}
	direct, err := s.nc.Subscribe(subj.InferDirectAll("w-"+model, model), answer)
	if err != nil {
		s.t.Fatal(err)
	}
	s.subs = append(s.subs, sub, direct)
}

// run plays an agent running task in sandbox: frames frames recorded and
// sent to modelA, each recorded with its detections, a click on "Sign in" on the
// last, and the run's end. noise makes frames large (about 40 KB each).
func (s *system) run(task, sandbox string, mode messages.RecordMode, frames int, ok, noise bool) {
	t := s.t
	t.Helper()
	started := time.Now()
	step := &messages.Step{Action: messages.ActionClick, Target: &messages.Target{Text: "Sign in"}}
	for seq := uint64(1); seq <= uint64(frames); seq++ {
		f := frame(t, task, sandbox, seq, noise)
		det := s.infer(f)
		s.publish(task, sandbox, messages.RecordKindDetections, &messages.DetectionRecord{V: 1, Task: task,
			Sandbox: sandbox, Attempt: 1, Step: 0, FrameSeq: seq, CapturedAt: f.CapturedAt, Model: modelA,
			Status: messages.DetectionsRan, Boxes: det.Boxes, Labels: map[string]string{"worker": det.Worker}})
		if seq == uint64(frames) {
			box, err := target.Select(det.Boxes, step.Target)
			if err != nil {
				t.Fatal(err)
			}
			x, y := target.Point(box, step.Target)
			s.publish(task, sandbox, messages.RecordKindAction, &messages.ActionRecord{V: 1, Task: task,
				Sandbox: sandbox, Attempt: 1, Action: step.Action, Describe: step.Describe(),
				Target: step.Target, FrameSeq: seq, Box: box, X: x, Y: y, At: time.Now().UnixNano()})
		}
	}
	s.publish(task, sandbox, messages.RecordKindEnd, &messages.TaskRecord{V: 1, Task: task, Sandbox: sandbox,
		Attempt: 1, Record: mode, Model: modelA, Steps: []string{step.Describe()}, OK: ok,
		StartedAt: started.UnixNano(), EndedAt: time.Now().UnixNano(), Frames: uint64(frames)})
	if err := s.nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func (s *system) infer(f *messages.Frame) *messages.Detections {
	s.t.Helper()
	b, _ := messages.Encode(f)
	if err := s.nc.Publish(subj.Frame(f.Task, f.Sandbox), b); err != nil { // as the agent does
		s.t.Fatal(err)
	}
	m, err := s.nc.Request(subj.Infer(modelA, f.Sandbox), b, 5*time.Second)
	if err != nil {
		s.t.Fatalf("infer: %v", err)
	}
	det, err := decodeReply(m.Data, f.Seq)
	if err != nil {
		s.t.Fatal(err)
	}
	return det
}

func (s *system) publish(task, sandbox, kind string, rec any) {
	b, err := messages.EncodeRecord(rec)
	if err == nil {
		err = s.nc.Publish(subj.Record(task, sandbox, kind), b)
	}
	if err != nil {
		s.t.Fatal(err)
	}
}

// frame returns a PNG frame of 200×100 pixels.
func frame(t *testing.T, task, sandbox string, seq uint64, noise bool) *messages.Frame {
	img := image.NewRGBA(image.Rect(0, 0, 200, 100))
	for i := range img.Pix {
		img.Pix[i] = 255
		if noise && i%4 != 3 {
			img.Pix[i] = byte(rand.N(256))
		}
	}
	for x := 10; x < 74; x++ {
		img.Set(x, 66, color.Black) // something to see under the "Sign in" box
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return &messages.Frame{V: 1, Sandbox: sandbox, Task: task, Seq: seq, CapturedAt: time.Now().UnixNano(),
		Codec: messages.CodecPNG, Width: 200, Height: 100, DisplayW: 200, DisplayH: 100, Scale: 1,
		Data: buf.Bytes()}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// eventually waits for cond with a deadline.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func jetstreamSubjects(filter string) jetstream.StreamInfoOpt {
	return jetstream.WithSubjectFilter(filter)
}
