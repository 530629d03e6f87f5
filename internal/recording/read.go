package recording

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Errors Load returns, so that callers can say what to do about them.
var (
	// ErrNothingRecorded means the selection matched no records at all.
	ErrNothingRecorded = errors.New("nothing recorded")
	// ErrFramesDropped means records exist but the stream's limits have
	// already dropped every frame they refer to.
	ErrFramesDropped = errors.New("frames dropped by the FRAMES stream's retention limits")
)

const (
	// fetchBatch is how many messages one pull asks for: frames are up to
	// a few hundred KiB each, so a batch stays within a few MiB.
	fetchBatch = 16
	// fetchWait bounds one pull; a read ends as soon as nothing is pending,
	// so this only matters when the server is slow.
	fetchWait = 2 * time.Second
	// publishSlack is how long after its capture a frame or record can
	// reach its stream: frames are published when encoded, records when
	// the inference request (retries included) has ended.
	publishSlack = time.Minute
)

// Selection says what Load reads: one task's runs, or the frames one
// sandbox sent between From and To.
type Selection struct {
	Task     string
	Sandbox  string
	From, To time.Time
}

// String describes the selection for messages.
func (s Selection) String() string {
	if s.Task != "" {
		return "task " + s.Task
	}
	return fmt.Sprintf("sandbox %s from %s to %s", s.Sandbox, s.From.Format(time.RFC3339),
		s.To.Format(time.RFC3339))
}

// Frame is one recorded frame with what was recorded about it.
type Frame struct {
	Frame messages.Frame
	// Model is the model the frame was sent to.
	Model string
	// Detections is what the model said when the task ran; nil when no
	// record of it was kept.
	Detections *messages.DetectionRecord
	// Actions are the targets chosen on this frame's boxes.
	Actions []messages.ActionRecord
}

// Recording is what Load read back.
type Recording struct {
	Selection Selection
	Frames    []*Frame              // in capture order
	Runs      []messages.TaskRecord // ends of the runs, when recorded
	// Missing are detections whose frames the stream no longer holds.
	Missing []messages.DetectionRecord
	// KeptSince is the time of the oldest frame the stream still holds.
	KeptSince time.Time
	// Limits describes the stream's retention limits, for messages.
	Limits string
}

// StepText returns the description of step i of task, when recorded.
func (r *Recording) StepText(task string, i int) string {
	for _, run := range r.Runs {
		if run.Task == task && i >= 0 && i < len(run.Steps) {
			return run.Steps[i]
		}
	}
	for _, f := range r.Frames {
		for _, a := range f.Actions {
			if a.Task == task && a.Step == i {
				return a.Describe
			}
		}
	}
	return ""
}

// frameKey identifies a frame across runs: a run's sequences start at 1,
// the capture time tells attempts apart.
type frameKey struct {
	task string
	seq  uint64
	at   int64
}

// Load reads the selected frames and their records. It returns an error
// wrapping ErrNothingRecorded when nothing matches, and ErrFramesDropped
// when records exist but their frames are gone; a partly dropped range
// loads, with Missing listing what is gone.
func Load(ctx context.Context, js jetstream.JetStream, subj messages.Subjects,
	sel Selection) (*Recording, error) {
	if sel.Task == "" && sel.Sandbox == "" {
		return nil, errors.New("recording: select a task, or a sandbox and a time range")
	}
	rec := &Recording{Selection: sel}
	if err := rec.describeStream(ctx, js); err != nil {
		return nil, err
	}
	recs, err := loadRecords(ctx, js, subj, sel)
	if err != nil {
		return nil, err
	}
	rec.Runs = recs.runs
	if err := rec.loadFrames(ctx, js, subj, recs); err != nil {
		return nil, err
	}
	return rec, rec.check(recs)
}

// describeStream notes how far back FRAMES reaches and its limits.
func (r *Recording) describeStream(ctx context.Context, js jetstream.JetStream) error {
	s, err := js.Stream(ctx, messages.FramesStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("recording: no stream %s on this server: recording is off or no dispatcher "+
			"has started with recording (%w)", messages.FramesStream, ErrNothingRecorded)
	}
	if err != nil {
		return fmt.Errorf("recording: stream %s: %w", messages.FramesStream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("recording: stream %s: %w", messages.FramesStream, err)
	}
	r.KeptSince = info.State.FirstTime
	r.Limits = fmt.Sprintf("max age %s, max bytes %d", info.Config.MaxAge, info.Config.MaxBytes)
	return nil
}

// check turns what is missing into the errors Load documents.
func (r *Recording) check(recs *records) error {
	switch {
	case len(r.Frames) > 0:
		return nil
	case len(recs.dets) == 0 && len(recs.runs) == 0:
		return fmt.Errorf("recording: %s: %w (recording off, a run that asked not to be kept, "+
			"or records older than the stream keeps)", r.Selection, ErrNothingRecorded)
	}
	first, last := recs.span()
	kept := "holds no frames now"
	if !r.KeptSince.IsZero() {
		kept = "now starts at " + stamp(r.KeptSince)
	}
	return fmt.Errorf("recording: %s: %w: its %d frames were captured %s–%s, but stream %s %s (%s)",
		r.Selection, ErrFramesDropped, len(recs.dets), stamp(first), stamp(last), messages.FramesStream, kept,
		r.Limits)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
