package capture_test

import (
	"context"
	"image"
	"image/color"
	"testing"
	"time"

	"github.com/jezek/xgb/xproto"

	"github.com/screenfleet/screenfleet/pkg/capture"
)

func TestCaptureSettledOnStaticScreen(t *testing.T) {
	c := open(t, startDisplay(t), capture.Options{})
	img, settled, err := c.CaptureSettled(context.Background(), capture.SettleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !settled || img == nil {
		t.Fatalf("static screen did not settle (img %v)", img != nil)
	}
}

// TestCaptureSettledOnChangingScreen repaints a window every 10 ms; the
// screen never settles and the frame must come back marked unsettled.
func TestCaptureSettledOnChangingScreen(t *testing.T) {
	display := startDisplay(t)
	p := newPainter(t, display)
	rect := image.Rect(0, 0, 100, 100)
	p.fillRect(t, rect, color.RGBA{0, 0, 0xff, 0xff})
	c := open(t, display, capture.Options{})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.animate(ctx, rect)

	opts := capture.SettleOptions{Timeout: 400 * time.Millisecond}
	start := time.Now()
	img, settled, err := c.CaptureSettled(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if settled || img == nil {
		t.Fatalf("changing screen reported settled=%v", settled)
	}
	if elapsed := time.Since(start); elapsed > 2*opts.Timeout {
		t.Errorf("CaptureSettled took %v with a %v timeout", elapsed, opts.Timeout)
	}
}

// animate repaints rect on the root window in changing shades until ctx ends.
func (p *painter) animate(ctx context.Context, rect image.Rectangle) {
	gc, err := xproto.NewGcontextId(p.conn)
	if err != nil {
		return
	}
	root := xproto.Drawable(p.screen.Root)
	xproto.CreateGC(p.conn, gc, root, xproto.GcSubwindowMode, []uint32{xproto.SubwindowModeIncludeInferiors})
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		xproto.ChangeGC(p.conn, gc, xproto.GcForeground, []uint32{p.pixel(color.RGBA{uint8(i * 37), 0x80,
			0, 0xff})})
		xproto.PolyFillRectangle(p.conn, root, gc, []xproto.Rectangle{{
			X: int16(rect.Min.X), Y: int16(rect.Min.Y), Width: uint16(rect.Dx()), Height: uint16(rect.Dy()),
		}})
		_, _ = xproto.GetInputFocus(p.conn).Reply()
	}
}

func TestUniform(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 8, 4))
	if !capture.Uniform(img) {
		t.Error("all-zero image not uniform")
	}
	img.SetRGBA(7, 3, color.RGBA{0, 0, 1, 0})
	if capture.Uniform(img) {
		t.Error("image with one different pixel reported uniform")
	}
	sub := img.SubImage(image.Rect(0, 0, 4, 2)).(*image.RGBA)
	if !capture.Uniform(sub) {
		t.Error("uniform sub-image not uniform")
	}
}
