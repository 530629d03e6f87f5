package recording

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// loadFrames reads the frames the selection covers and joins the records
// to them.
func (r *Recording) loadFrames(ctx context.Context, js jetstream.JetStream, subj messages.Subjects,
	recs *records) error {
	sel := r.Selection
	filter, from, to := subj.FramesOfTask(sel.Task), time.Time{}, time.Time{}
	if sel.Task == "" {
		filter, from, to = subj.FramesOfSandbox(sel.Sandbox), sel.From, sel.To
	}
	byKey := map[frameKey]*Frame{}
	err := readStream(ctx, js, messages.FramesStream, filter, from, func(m jetstream.Msg) (bool, error) {
		if !to.IsZero() && msgTime(m).After(to.Add(publishSlack)) {
			return false, nil
		}
		r.addFrame(byKey, m.Data())
		return true, nil
	})
	if err != nil {
		return err
	}
	r.join(byKey, recs)
	slices.SortFunc(r.Frames, func(a, b *Frame) int {
		return cmp.Compare(a.Frame.CapturedAt, b.Frame.CapturedAt)
	})
	return nil
}

// addFrame keeps one stored frame if the selection covers it, once.
func (r *Recording) addFrame(byKey map[frameKey]*Frame, data []byte) {
	f, err := messages.DecodeFrame(data)
	if err != nil {
		return // not a frame this version understands; nothing to replay
	}
	sel := r.Selection
	if (sel.Task != "" && f.Task != sel.Task) || !sel.covers(f.CapturedAt) {
		return
	}
	k := frameKey{task: f.Task, seq: f.Seq, at: f.CapturedAt}
	if _, seen := byKey[k]; seen {
		return
	}
	fr := &Frame{Frame: f}
	byKey[k] = fr
	r.Frames = append(r.Frames, fr)
}

// join attaches detections and actions to their frames, and lists the
// detections whose frames are gone.
func (r *Recording) join(byKey map[frameKey]*Frame, recs *records) {
	seqs := map[runSeq]*Frame{} // for actions, which name their frame by sequence
	for i := range recs.dets {
		d := &recs.dets[i]
		fr, ok := byKey[frameKey{task: d.Task, seq: d.FrameSeq, at: d.CapturedAt}]
		if !ok {
			r.Missing = append(r.Missing, *d)
			continue
		}
		fr.Detections, fr.Model = d, d.Model
		seqs[runSeq{d.Task, d.Sandbox, d.Attempt, d.FrameSeq}] = fr
	}
	for _, fr := range r.Frames {
		if fr.Model == "" {
			fr.Model = recs.model(fr.Frame.Task)
		}
	}
	for _, a := range recs.acts {
		if fr, ok := seqs[runSeq{a.Task, a.Sandbox, a.Attempt, a.FrameSeq}]; ok {
			fr.Actions = append(fr.Actions, a)
		}
	}
}

// runSeq names a frame within one run (task, sandbox, attempt).
type runSeq struct {
	task, sandbox string
	attempt       int
	seq           uint64
}
