package capture_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/screenfleet/screenfleet/internal/xvfb"
	"github.com/screenfleet/screenfleet/pkg/capture"
)

const screenW, screenH = 640, 480

// startDisplay starts a 640×480 Xvfb for the test, or skips the test when
// Xvfb is not installed.
func startDisplay(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := xvfb.Start(ctx, screenW, screenH)
	if errors.Is(err, xvfb.ErrNotInstalled) {
		t.Skipf("skipping: needs Xvfb (apt-get install xvfb): %v", err)
	}
	if err != nil {
		t.Fatalf("start Xvfb: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop Xvfb: %v", err)
		}
	})
	return srv.Display()
}

func open(t *testing.T, display string, opts capture.Options) *capture.Capturer {
	t.Helper()
	c, err := capture.OpenWithOptions(display, opts)
	if err != nil {
		t.Fatalf("open capturer: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitFor polls cond until it reports true or the deadline passes, and then
// fails with cond's last explanation.
func waitFor(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %s", timeout, why)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// painter is the test's own X client, which draws on the display.
type painter struct {
	conn   *xgb.Conn
	screen *xproto.ScreenInfo
	visual xproto.VisualInfo
}

func newPainter(t *testing.T, display string) *painter {
	t.Helper()
	conn, err := xgb.NewConnDisplay(display)
	if err != nil {
		t.Fatalf("painter connect: %v", err)
	}
	t.Cleanup(conn.Close)
	screen := xproto.Setup(conn).DefaultScreen(conn)
	p := &painter{conn: conn, screen: screen}
	for _, d := range screen.AllowedDepths {
		for _, v := range d.Visuals {
			if v.VisualId == screen.RootVisual {
				p.visual = v
			}
		}
	}
	return p
}

// pixel returns the pixel value of c on the root visual, built from its masks.
func (p *painter) pixel(c color.RGBA) uint32 {
	put := func(mask uint32, v uint8) uint32 {
		shift := 0
		for mask>>shift&1 == 0 {
			shift++
		}
		maxv := mask >> shift
		return (uint32(v) * maxv / 255) << shift
	}
	return put(p.visual.RedMask, c.R) | put(p.visual.GreenMask, c.G) | put(p.visual.BlueMask, c.B)
}

// fillRect maps an unmanaged window at r with a black background and fills
// it with c through a graphics context.
func (p *painter) fillRect(t *testing.T, r image.Rectangle, c color.RGBA) {
	t.Helper()
	wid, err := xproto.NewWindowId(p.conn)
	if err != nil {
		t.Fatal(err)
	}
	err = xproto.CreateWindowChecked(p.conn, 0, wid, p.screen.Root,
		int16(r.Min.X), int16(r.Min.Y), uint16(r.Dx()), uint16(r.Dy()), 0,
		xproto.WindowClassInputOutput, 0,
		xproto.CwBackPixel|xproto.CwOverrideRedirect, []uint32{0, 1}).Check()
	if err != nil {
		t.Fatalf("create window: %v", err)
	}
	if err := xproto.MapWindowChecked(p.conn, wid).Check(); err != nil {
		t.Fatalf("map window: %v", err)
	}
	gc, err := xproto.NewGcontextId(p.conn)
	if err != nil {
		t.Fatal(err)
	}
	xproto.CreateGC(p.conn, gc, xproto.Drawable(wid), xproto.GcForeground, []uint32{p.pixel(c)})
	err = xproto.PolyFillRectangleChecked(p.conn, xproto.Drawable(wid), gc,
		[]xproto.Rectangle{{X: 0, Y: 0, Width: uint16(r.Dx()), Height: uint16(r.Dy())}}).Check()
	if err != nil {
		t.Fatalf("fill: %v", err)
	}
}

// rectShows reports whether every pixel of img inside r is c, and that the
// pixels just outside r's left and right edges are not.
func rectShows(img *image.RGBA, r image.Rectangle, c color.RGBA) (bool, string) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if got := img.RGBAAt(x, y); got != c {
				return false, fmt.Sprintf("pixel (%d,%d) = %v, want %v", x, y, got, c)
			}
		}
	}
	for _, pt := range []image.Point{{r.Min.X - 1, r.Min.Y}, {r.Max.X, r.Max.Y - 1}} {
		if got := img.RGBAAt(pt.X, pt.Y); got == c {
			return false, fmt.Sprintf("pixel (%d,%d) outside the rectangle is %v too", pt.X, pt.Y, got)
		}
	}
	return true, ""
}

func TestModes(t *testing.T) {
	display := startDisplay(t)
	for _, tc := range []struct {
		opts capture.Options
		want string
	}{
		{capture.Options{}, capture.ModeSHM},
		{capture.Options{NoSHM: true}, capture.ModeGetImage},
	} {
		c := open(t, display, tc.opts)
		if got := c.Mode(); got != tc.want {
			t.Errorf("Mode() with %+v = %q, want %q (shm failure: %v)", tc.opts, got, tc.want, c.SHMFailure())
		}
		if w, h := c.Size(); w != screenW || h != screenH {
			t.Errorf("Size() = %dx%d, want %dx%d", w, h, screenW, screenH)
		}
		img, err := c.Capture(context.Background())
		if err != nil {
			t.Fatalf("capture in %s mode: %v", c.Mode(), err)
		}
		if img.Rect != image.Rect(0, 0, screenW, screenH) {
			t.Errorf("image bounds %v", img.Rect)
		}
	}
}

func TestCaptureReadsKnownColours(t *testing.T) {
	display := startDisplay(t)
	p := newPainter(t, display)
	red := color.RGBA{0xff, 0, 0, 0xff}
	odd := color.RGBA{0x12, 0x34, 0x56, 0xff} // distinct channels catch swaps
	redRect := image.Rect(100, 60, 150, 90)
	oddRect := image.Rect(400, 300, 433, 317)
	p.fillRect(t, redRect, red)
	p.fillRect(t, oddRect, odd)

	for _, opts := range []capture.Options{{}, {NoSHM: true}} {
		c := open(t, display, opts)
		t.Run(c.Mode(), func(t *testing.T) {
			waitFor(t, 5*time.Second, func() (bool, string) {
				img, err := c.Capture(context.Background())
				if err != nil {
					t.Fatalf("capture: %v", err)
				}
				if ok, why := rectShows(img, redRect, red); !ok {
					return false, why
				}
				return rectShows(img, oddRect, odd)
			})
		})
	}
}

func TestModesAgree(t *testing.T) {
	display := startDisplay(t)
	newPainter(t, display).fillRect(t, image.Rect(10, 10, 200, 120), color.RGBA{0x80, 0x40, 0xc0, 0xff})
	a, b := open(t, display, capture.Options{}), open(t, display, capture.Options{NoSHM: true})
	ctx := context.Background()
	imgA, errA := a.Capture(ctx)
	imgB, errB := b.Capture(ctx)
	if err := errors.Join(errA, errB); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(imgA.Pix, imgB.Pix) {
		t.Fatal("shm and getimage captures of a static screen differ")
	}
}

func TestCaptureInto(t *testing.T) {
	c := open(t, startDisplay(t), capture.Options{})
	ctx := context.Background()
	if err := c.CaptureInto(ctx, image.NewRGBA(image.Rect(0, 0, 10, 10))); err == nil {
		t.Error("CaptureInto with wrong bounds succeeded")
	}
	dst := image.NewRGBA(image.Rect(0, 0, screenW, screenH))
	if err := c.CaptureInto(ctx, dst); err != nil {
		t.Fatalf("CaptureInto: %v", err)
	}
	if dst.Pix[3] != 0xff {
		t.Errorf("alpha = %d, want 255", dst.Pix[3])
	}
}

func TestCaptureHonoursContext(t *testing.T) {
	c := open(t, startDisplay(t), capture.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Capture(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Capture with cancelled context: err = %v", err)
	}
}

func TestClose(t *testing.T) {
	c := open(t, startDisplay(t), capture.Options{})
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := c.Capture(context.Background()); !errors.Is(err, capture.ErrClosed) {
		t.Fatalf("Capture after Close: err = %v, want ErrClosed", err)
	}
}

func TestOpenFailsWithoutServer(t *testing.T) {
	if _, err := capture.Open(":4095"); err == nil {
		t.Fatal("Open on a display with no server succeeded")
	}
}

func TestEncodePNG(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 64, 32))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 0xff
	}
	data, err := capture.EncodePNG(img)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	back, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	for y := 0; y < 32; y++ {
		for x := 0; x < 64; x++ {
			if got, want := color.RGBAModel.Convert(back.At(x, y)), img.RGBAAt(x, y); got != want {
				t.Fatalf("pixel (%d,%d) = %v after round trip, want %v", x, y, got, want)
			}
		}
	}
}
