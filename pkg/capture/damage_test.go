package capture_test

import (
	"context"
	"image"
	"image/color"
	"testing"
	"time"

	"github.com/screenfleet/screenfleet/pkg/capture"
)

// TestChangesReportsDrawing checks that drawing in a window (the way an
// application paints) is reported, and that an idle screen reports nothing.
func TestChangesReportsDrawing(t *testing.T) {
	display := startDisplay(t)
	c := open(t, display, capture.Options{})
	ch := c.Changes()
	if ch == nil {
		t.Fatalf("no DAMAGE events: %v", c.DamageFailure())
	}
	ctx := context.Background()
	n, _ := ch.Last()
	if _, _, changed, err := ch.Wait(ctx, n, time.Now().Add(150*time.Millisecond)); err != nil || changed {
		t.Fatalf("idle screen: changed=%v err=%v", changed, err)
	}

	before := time.Now()
	newPainter(t, display).fillRect(t, image.Rect(10, 10, 60, 40), color.RGBA{0xff, 0, 0, 0xff})
	got, at, changed, err := ch.Wait(ctx, n, time.Now().Add(5*time.Second))
	if err != nil || !changed || got <= n || at.Before(before) {
		t.Fatalf("after drawing: count %d (was %d) at %v (drawn after %v), changed=%v err=%v",
			got, n, at, before, changed, err)
	}
}

func TestChangesWaitEndsWithContext(t *testing.T) {
	c := open(t, startDisplay(t), capture.Options{})
	if c.Changes() == nil {
		t.Fatalf("no DAMAGE events: %v", c.DamageFailure())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, _ := c.Changes().Last()
	if _, _, _, err := c.Changes().Wait(ctx, n, time.Now().Add(time.Hour)); err == nil {
		t.Fatal("Wait returned no error after its context ended")
	}
}

func TestNoDamageOption(t *testing.T) {
	c := open(t, startDisplay(t), capture.Options{NoDamage: true})
	if c.Changes() != nil || c.DamageFailure() != nil {
		t.Fatalf("NoDamage: changes %v, failure %v", c.Changes(), c.DamageFailure())
	}
}
