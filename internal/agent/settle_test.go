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

// redraw paints every 10 ms until d has passed (or forever when d is 0,
// until ctx ends), like a page animating after a click, and closes done
// after its last paint. It returns the longest gap between two paints.
func (r *settleRig) redraw(ctx context.Context, d time.Duration, done chan<- struct{}) time.Duration {
	defer close(done)
	start, last, gap := time.Now(), time.Time{}, time.Duration(0)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 1; ; i++ {
		r.paint(i)
		if !last.IsZero() {
			gap = max(gap, time.Since(last))
		}
		last = time.Now()
		if d > 0 && time.Since(start) >= d {
			return gap
		}
		select {
		case <-ctx.Done():
			return gap
		case <-tick.C:
		}
	}
}

// TestSettleWaitsForRepaintingToStop: a screen repainting for 300 ms after
// an action gives no frame to act on before its last repaint: the settle
// and the check of the rest of its quiet that look makes after capturing
// (changedSince) go on until the repainting has stopped. A settle can only
// tell a pause from the end when the pause is shorter than its quiet, so a
// run where the painter itself was held up that long (a busy machine) does
// not count, and is tried again.
func TestSettleWaitsForRepaintingToStop(t *testing.T) {
	r := newSettleRig(t)
	for try := 1; ; try++ {
		done, gapc := make(chan struct{}), make(chan time.Duration, 1)
		r.p.acting()
		go func() { gapc <- r.redraw(t.Context(), 300*time.Millisecond, done) }()
		if err := r.p.acted(t.Context()); err != nil {
			t.Fatal(err)
		}
		for {
			n, _ := r.p.changes.Last() // look captures a frame here
			changed, err := r.p.changedSince(t.Context(), n, false)
			if err != nil {
				t.Fatal(err)
			}
			if !changed {
				break
			}
		}
		select {
		case <-done:
		default:
			<-done
			if gap := <-gapc; gap >= settleMinQuiet/settleEarly && try < 3 {
				t.Logf("try %d: the painter paused %v; trying again", try, gap)
				continue
			}
			t.Fatal("a frame was accepted while the screen was still repainting")
		}
		if r.p.unsettled {
			t.Fatal("a screen that stopped repainting after 300 ms was marked unsettled")
		}
		return
	}
}

// TestSettleRunsOutOnEndlessRepainting: a screen that never stops changing
// ends the wait at its bound, and the next frame is marked unsettled.
// As in TestSettleWaitsForRepaintingToStop, a run where the painter itself
// was held up longer than the shortest quiet (a busy machine) looked
// settled for that long, does not count, and is tried again.
func TestSettleRunsOutOnEndlessRepainting(t *testing.T) {
	r := newSettleRig(t)
	for try := 1; ; try++ {
		ctx, cancel := context.WithCancel(t.Context())
		done, gapc := make(chan struct{}), make(chan time.Duration, 1)
		r.p.acting()
		go func() { gapc <- r.redraw(ctx, 0, done) }()
		err := r.p.acted(ctx)
		cancel()
		<-done
		gap := <-gapc
		if err != nil {
			t.Fatal(err)
		}
		if r.p.unsettled {
			return
		}
		if gap >= settleMinQuiet && try < 3 {
			t.Logf("try %d: the painter paused %v; trying again", try, gap)
			continue
		}
		t.Fatalf("a screen still repainting when the settle ran out was not marked unsettled "+
			"(the painter's longest pause: %v)", gap)
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
