package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/screenfleet/screenfleet/internal/xvfb"
	"github.com/screenfleet/screenfleet/pkg/capture"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// settleRig is a real Xvfb, a perceiver watching it through the real
// capture (with DAMAGE) and a window a test paints into, as an app would.
type settleRig struct {
	p    *perceiver
	conn *xgb.Conn
	win  xproto.Window
	gc   xproto.Gcontext
}

func newSettleRig(t *testing.T) *settleRig {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	x, err := xvfb.Start(ctx, 320, 200)
	if errors.Is(err, xvfb.ErrNotInstalled) {
		t.Skip("Xvfb is not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Stop() })
	screen, err := capture.Open(x.Display())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = screen.Close() })
	if screen.Changes() == nil {
		t.Fatalf("no DAMAGE events: %v", screen.DamageFailure())
	}
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r := &settleRig{p: newPerceiver(screen, nil, m, frameEncoder{}, "ocr", "", messages.Frame{})}
	if r.conn, err = xgb.NewConnDisplay(x.Display()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.conn.Close)
	s := xproto.Setup(r.conn).DefaultScreen(r.conn)
	r.win, _ = xproto.NewWindowId(r.conn)
	r.gc, _ = xproto.NewGcontextId(r.conn)
	xproto.CreateWindow(r.conn, s.RootDepth, r.win, s.Root, 0, 0, 320, 200, 0,
		xproto.WindowClassInputOutput, s.RootVisual, 0, nil)
	xproto.MapWindow(r.conn, r.win)
	xproto.CreateGC(r.conn, r.gc, xproto.Drawable(r.win), 0, nil)
	r.paint(0)
	// Let the map and first paint be reported before any test starts.
	n, _ := screen.Changes().Last()
	_, _, _, _ = screen.Changes().Wait(ctx, n, time.Now().Add(200*time.Millisecond))
	return r
}

// paint fills part of the window in a shade of i and waits until the
// server has done it.
func (r *settleRig) paint(i int) {
	xproto.ChangeGC(r.conn, r.gc, xproto.GcForeground, []uint32{uint32(i*2654435761) & 0xffffff})
	xproto.PolyFillRectangle(r.conn, xproto.Drawable(r.win), r.gc,
		[]xproto.Rectangle{{X: int16(i % 200), Y: 20, Width: 100, Height: 40}})
	_, _ = xproto.GetInputFocus(r.conn).Reply()
}

// redraw paints every 10 ms until for has passed (or forever when for is
// 0, until ctx ends), like a page animating after a click, and closes done
// after its last paint.
func (r *settleRig) redraw(ctx context.Context, d time.Duration, done chan<- struct{}) {
	defer close(done)
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 1; ; i++ {
		r.paint(i)
		if d > 0 && time.Since(start) >= d {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// TestSettleWaitsForRepaintingToStop: a screen repainting for 300 ms after
// an action is settled only after its last repaint.
func TestSettleWaitsForRepaintingToStop(t *testing.T) {
	r := newSettleRig(t)
	done := make(chan struct{})
	r.p.acting()
	go r.redraw(t.Context(), 300*time.Millisecond, done)
	if err := r.p.acted(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	default:
		t.Fatal("settled while the screen was still repainting")
	}
	if r.p.unsettled {
		t.Fatal("a screen that stopped repainting after 300 ms was marked unsettled")
	}
	// The rest of the quiet passes with no change: a frame captured now
	// may be used.
	n, _ := r.p.changes.Last()
	if changed, err := r.p.changedSince(t.Context(), n, false); err != nil || changed {
		t.Fatalf("quiet screen: changed %v, err %v", changed, err)
	}
}

// TestRepaintDuringTheRestOfTheQuiet: a repaint after a frame was captured,
// within the quiet the settle still owed, makes that frame's boxes unusable.
func TestRepaintDuringTheRestOfTheQuiet(t *testing.T) {
	r := newSettleRig(t)
	r.p.acting()
	r.paint(3)
	if err := r.p.acted(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r.p.pending == nil {
		t.Fatal("no quiet pending after a repaint")
	}
	n, _ := r.p.changes.Last() // the frame is captured here
	r.paint(4)                 // and the page repaints while it is analysed
	waitUntil(t, 5*time.Second, "the repaint reported", func() bool {
		now, _ := r.p.changes.Last()
		return now > n
	})
	if changed, err := r.p.changedSince(t.Context(), n, false); err != nil || !changed {
		t.Fatalf("repaint after the capture: changed %v, err %v", changed, err)
	}
}

// TestSettleRunsOutOnEndlessRepainting: a screen that never stops changing
// ends the wait at its bound, and the next frame is marked unsettled.
func TestSettleRunsOutOnEndlessRepainting(t *testing.T) {
	r := newSettleRig(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	r.p.acting()
	go r.redraw(ctx, 0, done)
	if err := r.p.acted(ctx); err != nil {
		t.Fatal(err)
	}
	if !r.p.unsettled {
		t.Fatal("a screen still repainting when the settle ran out was not marked unsettled")
	}
}

// TestSettleAfterOneRepaint: a single repaint (a click's feedback) settles,
// and so does an action that changes nothing.
func TestSettleAfterOneRepaint(t *testing.T) {
	r := newSettleRig(t)
	r.p.acting()
	r.paint(7)
	if err := r.p.acted(t.Context()); err != nil || r.p.unsettled {
		t.Fatalf("one repaint: err %v, unsettled %v", err, r.p.unsettled)
	}
	r.p.acting()
	if err := r.p.acted(t.Context()); err != nil || r.p.unsettled {
		t.Fatalf("no repaint: err %v, unsettled %v", err, r.p.unsettled)
	}
	if r.p.lastAction != 2 {
		t.Fatalf("lastAction %d after two actions", r.p.lastAction)
	}
}
