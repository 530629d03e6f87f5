package agent

import (
	"context"
	"errors"
	"image"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/screenfleet/screenfleet/internal/logging"
	"github.com/screenfleet/screenfleet/internal/xvfb"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// TestRealDisplay runs the agent against a real Xvfb with the real capture
// and XTest input, and xmessage as the app. The fake worker stands in for
// OCR and places "Hello" where xmessage draws its text; the keys typed must
// reach xmessage (focus follows the pointer, which the click left over its
// window), whose Return key quits it with status 3, which the agent must
// report as the app failing.
func TestRealDisplay(t *testing.T) {
	if _, err := exec.LookPath("xmessage"); err != nil {
		t.Skip("xmessage is not installed")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	x, err := xvfb.Start(ctx, 320, 200)
	if errors.Is(err, xvfb.ErrNotInstalled) {
		t.Skip("Xvfb is not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer x.Stop()

	ns := startServer(t, 0)
	nc := connect(t, ns)
	// The root window is black; xmessage paints its text area light. Until
	// it has, the screen shows nothing to find.
	hello := words(1, "Hello", 10, 10, 30, 10)
	startWorker(t, nc, func(img image.Image) []messages.Box {
		if r, _, _, _ := img.At(25, 15).RGBA(); r>>8 < 0x80 {
			return nil
		}
		return hello
	})
	h := &harness{t: t, nc: nc, progress: make(chan messages.Progress, 100), logs: &syncBuffer{}}
	h.collectProgress()

	runCtx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	cfg := Config{NATSURL: ns.ClientURL(), Sandbox: "sb-test", Display: x.Display(), WorkDir: t.TempDir()}
	go func() { done <- Run(runCtx, cfg, logging.NewTo(h.logs, "agentd", logging.FormatJSON, "debug")) }()
	defer func() {
		stop()
		<-done
	}()

	task := newTask("x11-1",
		step(messages.ActionWaitFor, &messages.Target{Text: "Hello"}),
		messages.Step{Action: messages.ActionScroll, Amount: 1},     // at the centre, off the window
		step(messages.ActionClick, &messages.Target{Text: "Hello"}), // the pointer stays over it
		messages.Step{Action: messages.ActionType, Text: "abc"},
		messages.Step{Action: messages.ActionKey, Keys: "Return"},
		messages.Step{Action: messages.ActionSleep, For: messages.Duration(10 * time.Second)})
	task.App.Command = []string{"xmessage", "-geometry", "+0+0", "-buttons", "quit:3", "-default", "quit", "Hello there"}
	waitUntil(t, 10*time.Second, "agent ready", func() bool {
		return strings.Contains(h.logs.String(),
			"agent ready")
	})
	if r := h.assignTask(task, 1); !r.Accepted {
		t.Fatalf("refused: %+v", r)
	}

	steps, final := h.final(30 * time.Second)
	if final.Code != messages.CodeAppFailed || !strings.Contains(final.Error, "exit status 3") {
		t.Fatalf("final = code %d %q; want the app to quit on Return (logs:\n%s)", final.Code, final.Error,
			h.logs)
	}
	if len(steps) < 5 || !steps[3].OK || steps[3].Detail != "typed 3 characters" || !steps[1].OK {
		t.Errorf("steps = %+v", steps)
	}
}
