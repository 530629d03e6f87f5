package e2e

import (
	"testing"
	"time"
)

// redrawFor is how long the redraw page keeps repainting after Start.
const redrawFor = 300 * time.Millisecond

// TestSettleWaitsForRedrawing clicks Start on a page that repaints every
// frame for 300 ms, moving the Continue button as it goes, then clicks
// Continue: the agent must wait for the screen to settle after the first
// click, so the second lands on Continue at its final place, after the
// redrawing stopped.
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
	if settle := time.Duration(st.Steps[1].Stages["settle"]); settle < redrawFor {
		t.Fatalf("the click on Start settled in %v, before the %v of redrawing ended", settle, redrawFor)
	}
}
