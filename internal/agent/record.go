package agent

import (
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/target"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// recorder publishes what one task run saw and did: a copy of each frame on
// its frame subject (kept by the FRAMES stream), and records on the record
// subjects (kept by RECORDS), for replay (internal/recording). The
// publishes are fire-and-forget: a lost record must never slow or fail a
// task. A nil recorder records nothing.
type recorder struct {
	nc      *nats.Conn
	subj    messages.Subjects
	task    messages.Task
	sandbox string
	attempt int
	log     zerolog.Logger
	started time.Time
	step    int    // index of the running step
	frames  uint64 // frames sent for inference
}

func newRecorder(a *agent, r *run) *recorder {
	return &recorder{nc: a.nc, subj: a.subjects, task: r.task, sandbox: a.cfg.Sandbox,
		attempt: r.attempt, log: r.log, started: time.Now()}
}

// details reports whether detections and actions are published: a task
// that asked never to be recorded publishes only its end.
func (r *recorder) details() bool { return r != nil && r.task.Record != messages.RecordNever }

// frame records a copy of the encoded frame f about to be sent for
// inference.
func (r *recorder) frame(payload []byte) {
	if r.details() {
		r.send(r.subj.Frame(r.task.ID, r.sandbox), "frame", payload)
	}
}

// detections records what the model said about frame f (err when it said
// nothing), and how long the request took.
func (r *recorder) detections(f *messages.Frame, det *messages.Detections, err error, took time.Duration) {
	if r != nil {
		r.frames++
	}
	if !r.details() {
		return
	}
	rec := messages.DetectionRecord{V: messages.Version, Task: r.task.ID, Sandbox: r.sandbox,
		Attempt: r.attempt, Step: r.step, FrameSeq: f.Seq, CapturedAt: f.CapturedAt,
		Model: r.task.Model, Status: messages.DetectionsRan, TookNs: took.Nanoseconds()}
	if err != nil {
		rec.Status, rec.Code, rec.Error = messages.DetectionsFailed, messages.CodeOf(err), err.Error()
	} else {
		rec.Boxes = det.Boxes
		rec.Labels = labels("worker", det.Worker, "gpu", det.GPU, "model", det.Model)
	}
	r.publish(messages.RecordKindDetections, &rec)
}

// action records the box a step chose on frame seq, and the point it used.
func (r *recorder) action(step *messages.Step, seq uint64, box messages.Box) {
	if !r.details() {
		return
	}
	x, y := target.Point(box, step.Target)
	r.publish(messages.RecordKindAction, &messages.ActionRecord{V: messages.Version, Task: r.task.ID,
		Sandbox: r.sandbox, Attempt: r.attempt, Step: r.step, Action: step.Action,
		Describe: step.Describe(), Target: step.Target, FrameSeq: seq, Box: box, X: x, Y: y,
		At: time.Now().UnixNano()})
}

// end records how the run ended, and flushes so that every record has
// reached the server before the task's final progress is reported.
func (r *recorder) end(err error) {
	if r == nil {
		return
	}
	rec := messages.TaskRecord{V: messages.Version, Task: r.task.ID, Sandbox: r.sandbox,
		Attempt: r.attempt, Record: r.task.Record, Model: r.task.Model, OK: err == nil,
		StartedAt: r.started.UnixNano(), EndedAt: time.Now().UnixNano(), Frames: r.frames}
	for i := range r.task.Steps {
		rec.Steps = append(rec.Steps, r.task.Steps[i].Describe())
	}
	if err != nil {
		rec.Code, rec.Error = messages.CodeOf(err), err.Error()
	}
	r.publish(messages.RecordKindEnd, &rec)
	if err := r.nc.FlushTimeout(flushTimeout); err != nil {
		r.log.Debug().Err(err).Msg("records not flushed")
	}
}

// labels returns the non-empty values of key, value pairs as a map.
func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

// setStep says which step the next records belong to.
func (r *recorder) setStep(i int) {
	if r != nil {
		r.step = i
	}
}

func (r *recorder) publish(kind string, rec any) {
	data, err := messages.EncodeRecord(rec)
	if err != nil {
		r.log.Debug().Err(err).Str("kind", kind).Msg("record not encoded")
		return
	}
	r.send(r.subj.Record(r.task.ID, r.sandbox, kind), kind, data)
}

func (r *recorder) send(subject, kind string, data []byte) {
	if err := r.nc.Publish(subject, data); err != nil {
		r.log.Debug().Err(err).Str("kind", kind).Msg("record not published")
	}
}
