package agent

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"time"

	"github.com/screenfleet/screenfleet/internal/regions"
	"github.com/screenfleet/screenfleet/pkg/capture"
	"github.com/screenfleet/screenfleet/pkg/messages"
	"github.com/screenfleet/screenfleet/pkg/rawframe"
)

const (
	// settleInterval spaces the captures that wait for the screen to settle
	// after an action when the display reports no changes (no DAMAGE); a
	// capture costs well under a millisecond to 3 ms.
	settleInterval = 20 * time.Millisecond
	// settleQuiet is how long the screen must stay the same after its last
	// change to count as settled when it is watched by capturing: an
	// animation in Firefox on two busy cores repaints less often than every
	// 40 ms, so two identical captures 40 ms apart were seen mid-animation
	// (test/e2e TestSettleWaitsForRedrawing).
	settleQuiet = 100 * time.Millisecond
	// settleMinQuiet is the shortest quiet that counts as settled when the
	// display reports its repaints (DAMAGE). 40 ms (two frames of a 60 Hz
	// animation) let a page animating for 300 ms after a click be clicked
	// mid-way when Firefox got little CPU (test/e2e TestSettleWaitsForRedrawing
	// with the cores busy): its frames came over 100 ms apart. 100 ms is
	// what polling needed too; half of it is waited before the capture and
	// half during the frame's analysis (settleEarly).
	settleMinQuiet = 100 * time.Millisecond
	// settleGapFactor times the longest gap between two repaints seen since
	// the action is the quiet asked for after the last one: an animation
	// that repaints every 60 ms on a loaded machine is waited out (180 ms of
	// quiet), a single repaint is not waited on for long.
	settleGapFactor = 3
	// settleEarly divides that quiet: after quiet/settleEarly with no change
	// the next frame may be captured, and is used once the rest has passed
	// unchanged too, so the analysis runs during the rest of the quiet.
	settleEarly = 2
	// settleMaxQuiet caps that quiet: a page repainting once every second
	// (a clock) is not an animation to wait out.
	settleMaxQuiet = 400 * time.Millisecond
	// settleReact is how long an action that has not changed the screen yet
	// is waited for: a click shows after 10–16 ms (p99 42 ms) when the
	// machine is idle, but with the e2e suite's six Firefoxes on two cores
	// a page took over 200 ms to start redrawing after a click. Only an
	// action that changes nothing on screen pays all of it.
	settleReact = 500 * time.Millisecond
	// settleMax bounds that wait, for screens that never settle (a spinner,
	// a blinking caret): perception then goes ahead on the newest frame,
	// marked unsettled.
	settleMax = 1500 * time.Millisecond
	// pollInterval spaces captures while the screen shows the same pixels
	// as the frame last analysed; nothing is sent for inference then. With
	// DAMAGE, a repaint ends the wait early.
	pollInterval = 100 * time.Millisecond
	// maxRelooks bounds how often one look analyses the screen again
	// because it changed during the analysis: a blinking caret costs one
	// more at most, a spinner cannot hold a step forever.
	maxRelooks = 3
)

// perceiver captures the screen of one task and asks the model's workers
// what is on it. It is used by one goroutine.
//
// It never returns detections of a frame captured before the last action
// (C06): act counts actions, every frame records the count it was captured
// after, and settle waits after each action for the screen to stop
// changing; with DAMAGE events the frame is taken half-way through the
// quiet and its boxes are used once the rest has passed with no repaint.
type perceiver struct {
	screen  Screen
	changes *capture.Changes // nil: the screen is watched by capturing
	infer   *inferClient
	metrics *metrics
	encode  frameEncoder
	model   string
	subject string
	base    messages.Frame // sandbox and task of every frame

	seq        uint64 // sequence of the last frame sent
	lastAction uint64 // sequence of the last action done
	mark       uint64 // count of screen changes before the last action
	unsettled  bool   // the screen had not settled when the last settle ended
	// pending is the rest of a settle's quiet still owed: the next frame is
	// captured after part of it and used only if the rest passes with no
	// change. Nil when nothing is owed.
	pending *quietWait
	// gap is the longest gap between two repaints seen since the last
	// action, across settles, and lastRepaint the newest repaint seen.
	gap         time.Duration
	lastRepaint time.Time

	img      *image.RGBA // capture buffer
	settle2  *image.RGBA // second buffer for settle
	analysed bool        // whether boxes belong to lastPix and lastAction
	lastPix  []byte      // pixels of the last analysed frame
	seenAt   uint64      // lastAction when that frame was captured
	boxes    []messages.Box
	boxesSeq uint64    // sequence of the frame boxes came from
	rec      *recorder // records detections; nil records nothing

	frames int // frames looked at since resetFrames
}

func newPerceiver(screen Screen, infer *inferClient, m *metrics, encode frameEncoder,
	model, subject string, base messages.Frame) *perceiver {
	w, h := screen.Size()
	var changes *capture.Changes
	if c, ok := screen.(interface{ Changes() *capture.Changes }); ok {
		changes = c.Changes()
	}
	return &perceiver{screen: screen, changes: changes, infer: infer, metrics: m, encode: encode, model: model,
		subject: subject, base: base, img: image.NewRGBA(image.Rect(0, 0, w, h))}
}

// look captures the screen and returns the boxes on it, in display
// coordinates. fresh is false when the screen had not changed since the
// last analysed frame and that frame's boxes were returned again.
//
// When the screen changed while a frame was being analysed (it may have
// been caught mid-redraw by a settle that ended too soon, or ran out), the
// screen is given time to settle and looked at again, up to maxRelooks
// times, so a half-drawn page's boxes are not acted on when a newer screen
// exists.
func (p *perceiver) look(ctx context.Context) (boxes []messages.Box, fresh bool, err error) {
	for relooks := 0; ; relooks++ {
		var n uint64
		if p.changes != nil {
			n, _ = p.changes.Last()
		}
		if err := p.capture(ctx, p.img); err != nil {
			return nil, false, err
		}
		p.frames++
		if p.analysed && p.seenAt == p.lastAction && bytes.Equal(p.img.Pix, p.lastPix) {
			return p.boxes, false, nil
		}
		boxes, err = p.analyse(ctx, p.img)
		if err != nil {
			return nil, false, err
		}
		p.lastPix = append(p.lastPix[:0], p.img.Pix...)
		p.analysed, p.seenAt, p.boxes, p.boxesSeq = true, p.lastAction, boxes, p.seq
		unsettled := p.unsettled
		p.unsettled = false
		if relooks == maxRelooks {
			p.pending = nil
			return boxes, true, nil
		}
		changed, err := p.changedSince(ctx, n, unsettled)
		if err != nil || !changed {
			return boxes, true, ignoreCtx(ctx, err)
		}
	}
}

// changedSince reports whether the screen changed after its n-th reported
// change, which came before the frame just analysed was captured: at once
// when it changed during the analysis, else after waiting out what is left
// of the last settle's quiet. A changed screen is then given time to
// settle. Where the display reports no changes, it reports whether an
// unsettled frame differs from the screen now.
func (p *perceiver) changedSince(ctx context.Context, n uint64, unsettled bool) (bool, error) {
	if p.changes == nil {
		if !unsettled {
			return false, nil
		}
		if p.settle2 == nil {
			p.settle2 = image.NewRGBA(p.img.Rect)
		}
		if err := p.capture(ctx, p.settle2); err != nil {
			return false, err
		}
		return !bytes.Equal(p.settle2.Pix, p.lastPix), nil
	}
	until := time.Now()
	if p.pending != nil {
		// A change after the settle but before the capture counts too.
		n, until = min(n, p.pending.n), p.pending.last.Add(p.pending.quiet)
		p.pending = nil
	}
	start := time.Now()
	_, _, changed, err := p.changes.Wait(ctx, n, until)
	if err != nil || !changed {
		if until.After(start) {
			p.metrics.observe(stageSettle, start)
		}
		return false, err
	}
	// The screen is animating: wait out the whole quiet, with the gaps seen
	// so far, before the next capture.
	err = p.settleChanges(ctx, n, start, 0, false)
	p.metrics.observe(stageSettle, start)
	return true, err
}

// analyse encodes img as a frame, sends it for inference and maps the boxes
// back to display coordinates.
func (p *perceiver) analyse(ctx context.Context, img *image.RGBA) ([]messages.Box, error) {
	start := time.Now()
	data, err := p.encode.encode(img)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", messages.ErrInternal, err)
	}
	// The tile hashes (about a millisecond) let the worker find what changed
	// since this sandbox's last frame without decoding this one.
	tiles := regions.Hash(img, 0)
	p.metrics.observe(stageEncode, start)

	p.seq++
	f := p.base
	f.V, f.Seq, f.CapturedAt, f.LastAction = messages.Version, p.seq, start.UnixNano(), p.lastAction
	f.Codec, f.Data, f.Scale, f.Tiles = p.encode.codec, data, 1, tiles
	f.Unsettled = p.unsettled
	f.Width, f.Height = img.Rect.Dx(), img.Rect.Dy()
	f.DisplayW, f.DisplayH = p.screen.Size()
	payload, err := messages.Encode(&f)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", messages.ErrInternal, err)
	}

	p.rec.frame(payload)
	start = time.Now()
	p.metrics.frames.Inc()
	det, err := p.infer.request(ctx, p.model, p.subject, payload, f.Seq)
	p.metrics.observe(stageInfer, start)
	p.rec.detections(&f, det, err, time.Since(start))
	if err != nil {
		return nil, err
	}
	p.metrics.add(stageQueue, time.Duration(det.QueueNs))
	p.metrics.add(stageRecognition, time.Duration(det.InferNs))
	return f.ToDisplay(det.Boxes), nil
}

func (p *perceiver) capture(ctx context.Context, dst *image.RGBA) error {
	start := time.Now()
	if err := p.screen.CaptureInto(ctx, dst); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: capture: %w", messages.ErrSandboxFailed, err)
	}
	p.metrics.observe(stageCapture, start)
	return nil
}

// frameEncoder encodes frames in one codec.
type frameEncoder struct {
	codec  string
	encode func(*image.RGBA) ([]byte, error)
}

// newFrameEncoder returns the encoder of codec, messages.CodecRaw or
// messages.CodecPNG.
func newFrameEncoder(codec string) (frameEncoder, error) {
	if codec == messages.CodecPNG {
		return frameEncoder{codec: codec, encode: func(img *image.RGBA) ([]byte, error) {
			return capture.EncodePNG(img)
		}}, nil
	}
	enc, err := rawframe.NewEncoder()
	if err != nil {
		return frameEncoder{}, err
	}
	return frameEncoder{codec: messages.CodecRaw, encode: func(img *image.RGBA) ([]byte, error) {
		return enc.Encode(img), nil
	}}, nil
}

// acting notes how many changes the screen had reported before an action,
// so that the settle after it counts the repaints the action caused even
// when they came before the action returned.
func (p *perceiver) acting() {
	if p.changes != nil {
		p.mark, _ = p.changes.Last()
	}
	p.gap, p.lastRepaint = 0, time.Time{}
}

// acted records that an action was done and waits for the screen to settle
// (see settleChanges, or settlePolling where the display reports no
// changes). A screen still changing when settleMax has passed marks the
// next frame unsettled. Only a failing capture is an error.
func (p *perceiver) acted(ctx context.Context) error {
	p.lastAction++
	start := time.Now()
	defer p.metrics.observe(stageSettle, start)
	if p.changes != nil {
		return ignoreCtx(ctx, p.settleChanges(ctx, p.mark, start, settleReact, true))
	}
	settled, err := p.settlePolling(ctx, start)
	p.unsettled = !settled
	return ignoreCtx(ctx, err)
}

// quietWait is a settle's state: the count of the screen's last change, when
// it came, and how long the screen must then stay unchanged.
type quietWait struct {
	n     uint64
	last  time.Time
	quiet time.Duration
}

// settleChanges waits, from start, for the screen to stop changing after
// its n-th reported change: for react when nothing has changed since, else
// until no change has come for the quiet that the gaps between the
// repaints ask for (at least settleMinQuiet, settleGapFactor times the
// longest gap seen since the action, at most settleMaxQuiet). When early,
// it returns after settleEarly of that quiet and leaves the rest pending:
// look captures the next frame at once and waits the rest out while the
// frame is analysed, so the frame is used only when the screen was
// unchanged for the whole quiet around its capture. A screen still
// changing at settleMax marks the next frame unsettled. It captures
// nothing.
func (p *perceiver) settleChanges(ctx context.Context, n uint64, start time.Time, react time.Duration,
	early bool) error {
	bound := start.Add(settleMax)
	w := quietWait{n: n, quiet: p.quiet()}
	part := time.Duration(1)
	if early {
		part = settleEarly
	}
	p.pending, p.unsettled = nil, false
	for {
		until := start.Add(react)
		if !w.last.IsZero() {
			until = w.last.Add(w.quiet / part)
		}
		hitBound := until.After(bound)
		if hitBound {
			until = bound
		}
		count, at, changed, err := p.changes.Wait(ctx, w.n, until)
		if err != nil {
			return err
		}
		if !changed {
			p.unsettled = hitBound
			if early && !w.last.IsZero() && !hitBound {
				p.pending = &w
			}
			return nil
		}
		p.repainted(at)
		w.n, w.last, w.quiet = count, at, p.quiet()
	}
}

// repainted notes a repaint at at: the gap since the one before counts
// when it is short enough to be part of one animation (a repaint after a
// longer silence starts a new one).
func (p *perceiver) repainted(at time.Time) {
	if d := at.Sub(p.lastRepaint); !p.lastRepaint.IsZero() && d <= settleMaxQuiet/settleGapFactor {
		p.gap = max(p.gap, d)
	}
	p.lastRepaint = at
}

// quiet is how long the screen must stay unchanged after a repaint.
func (p *perceiver) quiet() time.Duration {
	return min(settleMaxQuiet, max(settleMinQuiet, settleGapFactor*p.gap))
}

// settlePolling captures every settleInterval until the screen has stayed
// the same for settleQuiet after a change (or for settleReact when nothing
// changed), and reports false when settleMax passed first.
func (p *perceiver) settlePolling(ctx context.Context, start time.Time) (bool, error) {
	if p.settle2 == nil {
		p.settle2 = image.NewRGBA(p.img.Rect)
	}
	prev, cur := p.img, p.settle2
	if err := p.capture(ctx, prev); err != nil {
		return false, err
	}
	quiet, lastChange := settleReact, start
	for time.Since(start) < settleMax {
		if err := sleep(ctx, settleInterval); err != nil {
			return false, err
		}
		if err := p.capture(ctx, cur); err != nil {
			return false, err
		}
		if !bytes.Equal(prev.Pix, cur.Pix) {
			quiet, lastChange = settleQuiet, time.Now()
			prev, cur = cur, prev
			continue
		}
		if time.Since(lastChange) >= quiet {
			return true, nil
		}
	}
	return false, nil
}

// pause waits before the next look when the last one reused old boxes, so
// an unchanged screen is polled rather than spun on. Where the display
// reports changes, a repaint ends the pause, and the screen is then given
// time to settle.
func (p *perceiver) pause(ctx context.Context, fresh bool) error {
	if fresh {
		return ctx.Err()
	}
	if p.changes == nil {
		return sleep(ctx, pollInterval)
	}
	start := time.Now()
	n, _ := p.changes.Last()
	_, _, changed, err := p.changes.Wait(ctx, n, start.Add(pollInterval))
	if err != nil || !changed {
		return err
	}
	return p.settleChanges(ctx, n, start, 0, true)
}

func ignoreCtx(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
