package recording

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// DefaultFrameTimeout bounds the replay of one frame, retries
	// included: a few of the agent's 5 s request timeouts, so a worker
	// that starts late or a busy queue does not fail the replay.
	DefaultFrameTimeout = 30 * time.Second
	// attemptTimeout bounds one request; a timed-out request is sent again,
	// to whichever worker of the queue group takes it.
	attemptTimeout = 10 * time.Second
	// noWorkerRetry spaces the attempts while no worker listens.
	noWorkerRetry = 200 * time.Millisecond
)

// ErrNoWorker means no worker listened for the model a replay asked for.
var ErrNoWorker = errors.New("no worker answered for model")

// ReplayConfig says how to replay.
type ReplayConfig struct {
	// Model sends every frame to this model; empty means the model each
	// frame was recorded with.
	Model string
	// Worker sends every frame to this one worker (by its id) instead of the
	// model's queue group; empty means any worker of the model.
	Worker string
	// Pace replays at the original pace instead of as fast as possible.
	Pace bool
	// FrameTimeout bounds one frame; 0 means DefaultFrameTimeout.
	FrameTimeout time.Duration
}

// FrameResult is one frame replayed and compared.
type FrameResult struct {
	Recorded *Frame
	Model    string
	Replayed []messages.Box // frame pixels; nil when the replay failed
	Worker   string
	Error    string
	Took     time.Duration
	Diff     BoxDiff
	Targets  []TargetCheck
	err      error
}

// Result is a whole replay.
type Result struct {
	Recording *Recording
	Frames    []*FrameResult
	Pace      bool
	Started   time.Time
	Took      time.Duration
}

// TargetsChanged counts recorded choices that would not be made again at
// the same point.
func (r *Result) TargetsChanged() int {
	n := 0
	for _, f := range r.Frames {
		for _, c := range f.Targets {
			if !c.Same {
				n++
			}
		}
	}
	return n
}

// FramesChanged counts frames whose boxes differ, or that failed to replay.
func (r *Result) FramesChanged() int {
	n := 0
	for _, f := range r.Frames {
		if f.Diff.Changed() || f.Error != "" {
			n++
		}
	}
	return n
}

// Replayer sends recorded frames through today's workers.
type Replayer struct {
	nc   *nats.Conn
	subj messages.Subjects
	log  zerolog.Logger
}

// NewReplayer returns a replayer on nc. The log receives one line per
// replay, not per frame.
func NewReplayer(nc *nats.Conn, subj messages.Subjects, log zerolog.Logger) *Replayer {
	return &Replayer{nc: nc, subj: subj, log: log}
}

// Replay sends rec's frames, in capture order, to the workers and compares
// what they say with what was recorded. The frames go out under a sandbox
// name of their own ("replay-…"); they are not recorded again.
func (p *Replayer) Replay(ctx context.Context, rec *Recording, cfg ReplayConfig) (*Result, error) {
	if cfg.FrameTimeout <= 0 {
		cfg.FrameTimeout = DefaultFrameTimeout
	}
	token := "replay-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	res := &Result{Recording: rec, Pace: cfg.Pace, Started: time.Now()}
	for i, f := range rec.Frames {
		if cfg.Pace && i > 0 {
			due := res.Started.Add(time.Duration(f.Frame.CapturedAt - rec.Frames[0].Frame.CapturedAt))
			if err := sleepUntil(ctx, due); err != nil {
				return nil, err
			}
		}
		fr, err := p.frame(ctx, f, cfg, token)
		if err != nil {
			return nil, err
		}
		if errors.Is(fr.err, ErrNoWorker) {
			// Every other frame would wait just as long for nobody.
			return nil, fmt.Errorf("recording: replay of %s: %w", rec.Selection, fr.err)
		}
		res.Frames = append(res.Frames, fr)
	}
	res.Took = time.Since(res.Started)
	p.log.Info().Str("event", "replay_done").Str("selection", rec.Selection.String()).
		Int("frames", len(res.Frames)).Int("frames_changed", res.FramesChanged()).
		Int("targets_changed", res.TargetsChanged()).Dur("elapsed", res.Took).Msg("replay done")
	return res, nil
}

// frame replays one frame and compares it. Only the caller's context
// ending is an error; a frame that gets no answer is a result.
func (p *Replayer) frame(ctx context.Context, f *Frame, cfg ReplayConfig,
	token string) (*FrameResult, error) {
	fr := &FrameResult{Recorded: f, Model: cfg.Model}
	if fr.Model == "" {
		fr.Model = f.Model
	}
	start := time.Now()
	det, err := p.request(ctx, f, p.subject(cfg, fr.Model, token), fr.Model, cfg.FrameTimeout)
	fr.Took = time.Since(start)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("recording: replay stopped: %w", ctx.Err())
	}
	var recorded []messages.Box
	if f.Detections != nil && f.Detections.Ran() {
		recorded = f.Detections.Boxes
	}
	if err != nil {
		fr.Error, fr.err = err.Error(), err
	} else {
		fr.Replayed, fr.Worker = det.Boxes, det.Worker
		fr.Diff = DiffBoxes(recorded, det.Boxes)
	}
	display := f.Frame.ToDisplay(fr.Replayed)
	for _, a := range f.Actions {
		fr.Targets = append(fr.Targets, CheckTarget(a, display))
	}
	return fr, nil
}

// subject is where a frame for model goes: the model's queue group, or the
// one worker the replay names.
func (p *Replayer) subject(cfg ReplayConfig, model, token string) string {
	if cfg.Worker != "" {
		return p.subj.InferDirect(cfg.Worker, model, token)
	}
	return p.subj.Infer(model, token)
}

// request sends the frame on subject to model's workers, retrying while
// none answers, for up to timeout.
func (p *Replayer) request(ctx context.Context, f *Frame, subject, model string,
	timeout time.Duration) (*messages.Detections, error) {
	payload, err := messages.Encode(&f.Frame)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, attemptTimeout)
		msg, err := p.nc.RequestWithContext(actx, subject, payload)
		acancel()
		switch {
		case err == nil:
			return decodeReply(msg.Data, f.Frame.Seq)
		case ctx.Err() != nil && errors.Is(err, nats.ErrNoResponders):
			return nil, fmt.Errorf("%w %q within %s", ErrNoWorker, model, timeout)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("no reply from the workers of model %q within %s", model, timeout)
		case errors.Is(err, nats.ErrNoResponders):
			if sleepUntil(ctx, time.Now().Add(noWorkerRetry)) != nil {
				return nil, fmt.Errorf("%w %q within %s", ErrNoWorker, model, timeout)
			}
		case !errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("request on %s: %w", subject, err)
		}
	}
}

func decodeReply(data []byte, seq uint64) (*messages.Detections, error) {
	var det messages.Detections
	if err := messages.Decode(data, &det); err != nil {
		return nil, err
	}
	if err := det.Err(); err != nil {
		return nil, err
	}
	if det.Seq != seq {
		return nil, fmt.Errorf("reply is for frame %d, not %d", det.Seq, seq)
	}
	return &det, nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
