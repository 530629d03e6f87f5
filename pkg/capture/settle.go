package capture

import (
	"bytes"
	"context"
	"image"
	"time"
)

// Settle defaults. Pages repaint in steps tens of milliseconds apart (a tab
// switch, a lazy image, a chart drawn in stripes 30 ms apart), and a single
// fixed delay after an action was not enough in the field (C06): 50 ms
// between captures and 3 identical ones in a row ask for 100 ms of quiet.
const (
	DefaultSettleInterval = 50 * time.Millisecond
	DefaultSettleStable   = 3
	DefaultSettleTimeout  = 2 * time.Second
)

// SettleOptions say when the screen counts as settled. Zero fields take the
// defaults above.
type SettleOptions struct {
	// Interval is the pause between captures.
	Interval time.Duration
	// Stable is how many consecutive identical captures make the screen
	// settled.
	Stable int
	// Timeout bounds the whole wait.
	Timeout time.Duration
}

func (o SettleOptions) withDefaults() SettleOptions {
	if o.Interval <= 0 {
		o.Interval = DefaultSettleInterval
	}
	if o.Stable <= 1 {
		o.Stable = DefaultSettleStable
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultSettleTimeout
	}
	return o
}

// CaptureSettled captures the screen until opts.Stable consecutive captures
// are identical, and returns the last one with settled true. When the
// timeout passes first it returns the last capture with settled false, so
// the caller can mark the frame unsettled rather than act on a half-drawn
// screen. It returns an error only if a capture fails or ctx ends.
func (c *Capturer) CaptureSettled(ctx context.Context, opts SettleOptions) (
	img *image.RGBA, settled bool, err error,
) {
	opts = opts.withDefaults()
	deadline := time.Now().Add(opts.Timeout)
	prev := image.NewRGBA(image.Rect(0, 0, c.width, c.height))
	cur := image.NewRGBA(prev.Rect)
	for same := 0; ; prev, cur = cur, prev {
		if err := c.CaptureInto(ctx, cur); err != nil {
			return nil, false, err
		}
		if same > 0 && bytes.Equal(prev.Pix, cur.Pix) {
			same++
		} else {
			same = 1
		}
		if same >= opts.Stable {
			return cur, true, nil
		}
		if time.Until(deadline) < opts.Interval {
			return cur, false, nil
		}
		if err := pause(ctx, opts.Interval); err != nil {
			return nil, false, err
		}
	}
}

// Uniform reports whether every pixel of img has the same colour, as in an
// all-black frame from a display nothing has drawn on yet. Such frames
// should be flagged rather than analysed.
func Uniform(img *image.RGBA) bool {
	b := img.Bounds()
	if b.Empty() {
		return true
	}
	first := img.Pix[img.PixOffset(b.Min.X, b.Min.Y):][:4]
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, y):][:4*b.Dx()]
		for i := 0; i < len(row); i += 4 {
			if !bytes.Equal(row[i:i+4], first) {
				return false
			}
		}
	}
	return true
}

// pause waits for d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
