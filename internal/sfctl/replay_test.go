package sfctl

import (
	"testing"
	"time"
)

func TestReplaySelection(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	sel, err := replayOpts{}.selection([]string{"login-001"}, now)
	if err != nil || sel.Task != "login-001" {
		t.Fatalf("task: %+v %v", sel, err)
	}
	sel, err = replayOpts{sandbox: "sb1", from: "15m", to: "2026-01-02T14:55:00Z"}.selection(nil, now)
	if err != nil || sel.Sandbox != "sb1" || !sel.From.Equal(now.Add(-15*time.Minute)) ||
		!sel.To.Equal(now.Add(-5*time.Minute)) {
		t.Fatalf("range: %+v %v", sel, err)
	}
	sel, err = replayOpts{sandbox: "sb1", from: "1h"}.selection(nil, now)
	if err != nil || !sel.To.Equal(now) {
		t.Fatalf("open range ends now: %+v %v", sel, err)
	}
	for _, bad := range []struct {
		o    replayOpts
		args []string
	}{{replayOpts{}, nil}, {replayOpts{sandbox: "sb1"}, nil}, {replayOpts{sandbox: "sb1"}, []string{"x"}},
		{replayOpts{sandbox: "sb1", from: "yesterday"}, nil}} {
		if _, err := bad.o.selection(bad.args, now); err == nil {
			t.Errorf("%+v %v: accepted", bad.o, bad.args)
		}
	}
}
