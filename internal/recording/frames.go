package recording

import (
	"context"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// loadFrames reads the frames the selection covers and joins the records
// to them.
func (r *Recording) loadFrames(ctx context.Context, js jetstream.JetStream, subj messages.Subjects, recs *records) error {
	byKey := map[frameKey]*Frame{}
	for _, w := range r.windows(recs) {
		err := readStream(ctx, js, messages.FramesStream, subj.InferOfSandbox(w.sandbox), w.from,
			func(m jetstream.Msg) (bool, error) {
				if msgTime(m).After(w.to) {
					return false, nil
				}
				r.addFrame(byKey, subj, m.Subject(), m.Data())
				return true, nil
			})
		if err != nil {
			return err
		}
	}
	r.join(byKey, recs)
	slices.SortFunc(r.Frames, func(a, b *Frame) int {
		return int(a.Frame.CapturedAt - b.Frame.CapturedAt)
	})
	return nil
}

// window is a stretch of one sandbox's frames to read.
type window struct {
	sandbox  string
	from, to time.Time
}

// windows returns what to read: the selected range of a sandbox, or for a
// task the time its detections span in each sandbox it ran in.
func (r *Recording) windows(recs *records) []window {
	sel := r.Selection
	if sel.Task == "" {
		to := sel.To
		if to.IsZero() {
			to = time.Now()
		}
		return []window{{sandbox: sel.Sandbox, from: sel.From, to: to.Add(requestSlack)}}
	}
	var out []window
	for _, sb := range recs.sandboxes() {
		w := window{sandbox: sb}
		for _, d := range recs.dets {
			if d.Sandbox != sb {
				continue
			}
			t := time.Unix(0, d.CapturedAt)
			if w.from.IsZero() || t.Before(w.from) {
				w.from = t
			}
			w.to = later(w.to, t.Add(requestSlack))
		}
		out = append(out, w)
	}
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// addFrame keeps one stored frame if the selection covers it. A frame sent
// again after a timed-out request is stored twice; it is kept once.
func (r *Recording) addFrame(byKey map[frameKey]*Frame, subj messages.Subjects, subject string, data []byte) {
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
	model, _, _ := subj.ParseInfer(subject)
	fr := &Frame{Frame: f, Model: model}
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
		fr.Detections = d
		seqs[runSeq{d.Task, d.Sandbox, d.Attempt, d.FrameSeq}] = fr
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
