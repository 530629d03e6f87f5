package agent

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"time"

	"github.com/screenfleet/screenfleet/internal/regions"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// settleInterval spaces the captures that wait for the screen to settle
	// after an action; a capture costs well under a millisecond to 3 ms.
	settleInterval = 20 * time.Millisecond
	// settleQuiet is how long the screen must stay the same after its last
	// change to count as settled: an animation in Firefox on two busy cores
	// repaints less often than every 40 ms, so two identical captures 40 ms
	// apart were seen mid-animation (test/e2e TestSettleWaitsForRedrawing).
	settleQuiet = 100 * time.Millisecond
	// settleReact is how long an action that has not changed the screen yet
	// is waited for: a click shows after 10–16 ms (p99 42 ms) when the
	// machine is idle, but with the e2e suite's six Firefoxes on two cores
	// a page took over 200 ms to start redrawing after a click. Only an
	// action that changes nothing on screen pays all of it.
	settleReact = 500 * time.Millisecond
	// settleMax bounds that wait, for screens that never settle (a spinner,
	// a blinking caret): perception then goes ahead on the newest frame.
	settleMax = 1500 * time.Millisecond
	// pollInterval spaces captures while the screen shows the same pixels
	// as the frame last analysed; nothing is sent for inference then.
	pollInterval = 100 * time.Millisecond
)

// perceiver captures the screen of one task and asks the model's workers
// what is on it. It is used by one goroutine.
//
// It never returns detections of a frame captured before the last action
// (C06): act counts actions, every frame records the count it was captured
// after, and settle waits after each action for the screen to stop changing
// before the next frame is taken.
type perceiver struct {
	screen  Screen
	infer   *inferClient
	metrics *metrics
	encode  func(image.Image) ([]byte, error)
	model   string
	subject string
	base    messages.Frame // sandbox and task of every frame

	seq        uint64 // sequence of the last frame sent
	lastAction uint64 // sequence of the last action done

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

func newPerceiver(screen Screen, infer *inferClient, m *metrics, encode func(image.Image) ([]byte, error),
	model, subject string, base messages.Frame) *perceiver {
	w, h := screen.Size()
	return &perceiver{screen: screen, infer: infer, metrics: m, encode: encode, model: model,
		subject: subject, base: base, img: image.NewRGBA(image.Rect(0, 0, w, h))}
}

// look captures the screen and returns the boxes on it, in display
// coordinates. fresh is false when the screen had not changed since the
// last analysed frame and that frame's boxes were returned again.
func (p *perceiver) look(ctx context.Context) (boxes []messages.Box, fresh bool, err error) {
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
	return boxes, true, nil
}

// analyse encodes img as a frame, sends it for inference and maps the boxes
// back to display coordinates.
func (p *perceiver) analyse(ctx context.Context, img *image.RGBA) ([]messages.Box, error) {
	start := time.Now()
	data, err := p.encode(img)
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
	f.Codec, f.Data, f.Scale, f.Tiles = messages.CodecPNG, data, 1, tiles
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

// acted records that an action was done and waits for the screen to settle:
// captures every settleInterval until the screen has stayed the same for
// settleQuiet after a change (or for settleReact when nothing changed), or
// settleMax has passed, or ctx ends. Only a failing capture is an error.
func (p *perceiver) acted(ctx context.Context) error {
	p.lastAction++
	start := time.Now()
	defer p.metrics.observe(stageSettle, start)
	if p.settle2 == nil {
		p.settle2 = image.NewRGBA(p.img.Rect)
	}
	prev, cur := p.img, p.settle2
	if err := p.capture(ctx, prev); err != nil {
		return ignoreCtx(ctx, err)
	}
	quiet, lastChange := settleReact, start
	for time.Since(start) < settleMax {
		if sleep(ctx, settleInterval) != nil {
			return nil
		}
		if err := p.capture(ctx, cur); err != nil {
			return ignoreCtx(ctx, err)
		}
		if !bytes.Equal(prev.Pix, cur.Pix) {
			quiet, lastChange = settleQuiet, time.Now()
			prev, cur = cur, prev
			continue
		}
		if time.Since(lastChange) >= quiet {
			break
		}
	}
	return nil
}

// pause waits before the next look when the last one reused old boxes, so
// an unchanged screen is polled rather than spun on.
func (p *perceiver) pause(ctx context.Context, fresh bool) error {
	if fresh {
		return ctx.Err()
	}
	return sleep(ctx, pollInterval)
}

func ignoreCtx(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
