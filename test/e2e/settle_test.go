package e2e

import (
	"testing"
	"time"
)

// TestSettleWaitsForRedrawing clicks Start on a page that repaints every
// frame for 300 ms, moving the Continue button as it goes, then clicks
// Continue: the agent must wait for the screen to settle after the first
// click, so the second lands on Continue at its final place, after the
// redrawing stopped. The page is the judge (it echoes whether Continue was
// clicked before or after); the settle time is not checked, since a Firefox
// under load may start redrawing only after the agent stopped waiting for a
// first change, and the click then still comes after the redrawing.
func TestSettleWaitsForRedrawing(t *testing.T) {
	t.Parallel()
	id := "e2e-settle"
	submitPageTask(t, id, "redraw.html", []map[string]any{
		{"action": "wait_for", "target": map[string]any{"text": "Idle"}, "timeout": "60s"},
		{"action": "click", "target": map[string]any{"text": "Start"}},
		{"action": "click", "target": map[string]any{"text": "Continue"}},
		{"action": "assert", "target": map[string]any{"text": "Clicked when settled"}, "timeout": "10s"},
	})
	st := waitFinal(t, id, taskLimit)
	if echoes, ok := shared.site.waitEcho("run="+id, "settled", 10*time.Second); !ok {
		t.Fatalf("Continue was not clicked after the page settled: %q (steps %+v)", echoes, st.Steps)
	}
	requireSucceeded(t, st)
}
