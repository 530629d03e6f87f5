// Package ocrtest renders test screens for OCR tests: an HTML page drawn by
// headless Firefox, the same renderer the sandboxes run.
package ocrtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// LoginPage is a small sign-in form: a "User name" label above its field and
// two bordered buttons, at the 16-18 px sizes of real UIs. Its elements sit
// at the positions in the Label constants' comments.
const LoginPage = `<!doctype html>
<html><body style="margin:0;background:#fff;font-family:sans-serif">
<div style="position:absolute;left:40px;top:40px;font-size:17px">User name</div>
<input style="position:absolute;left:40px;top:70px;width:200px;font-size:16px">
<button style="position:absolute;left:40px;top:120px;font-size:16px;padding:6px 14px">Sign in</button>
<button style="position:absolute;left:160px;top:120px;font-size:16px;padding:6px 14px">Cancel</button>
</body></html>`

// Where LoginPage's labels are, as a box around each label's text; used to
// check that found boxes land near them. Measured once from a rendering.
var (
	// UserNameAt is around "User name".
	UserNameAt = Rect{X: 40, Y: 40, W: 90, H: 20}
	// SignInAt is around "Sign in" (inside its button).
	SignInAt = Rect{X: 55, Y: 128, W: 60, H: 20}
	// CancelAt is around "Cancel" (inside its button).
	CancelAt = Rect{X: 175, Y: 128, W: 55, H: 20}
)

// Rect is a pixel rectangle.
type Rect struct{ X, Y, W, H int }

// Contains reports whether the point (x, y) lies in r grown by slack pixels
// on every side.
func (r Rect) Contains(x, y, slack int) bool {
	return x >= r.X-slack && x <= r.X+r.W+slack && y >= r.Y-slack && y <= r.Y+r.H+slack
}

// renderTimeout bounds one Firefox run; a cold start takes about 1.5 s here.
const renderTimeout = 60 * time.Second

// Screenshot renders html at width x height pixels with headless Firefox and
// returns the PNG. It skips the test under -short (a render takes a second
// or two) and when firefox-esr is not installed.
func Screenshot(t testing.TB, html string, width, height int) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no Firefox rendering")
	}
	firefox, err := exec.LookPath("firefox-esr")
	if err != nil {
		t.Skip("firefox-esr not installed; it renders the OCR test screens")
	}
	dir := t.TempDir()
	page, out := filepath.Join(dir, "page.html"), filepath.Join(dir, "shot.png")
	if err := os.WriteFile(page, []byte(html), 0o600); err != nil {
		t.Fatal(err)
	}
	profile := filepath.Join(dir, "profile")
	if err := os.Mkdir(profile, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), renderTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, firefox, "--headless", "--no-remote", "--profile", profile,
		"--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height),
		"--screenshot", out, "file://"+page)
	cmd.Env = append(os.Environ(), "HOME="+dir, "MOZ_CRASHREPORTER_DISABLE=1")
	runGroup(t, cmd)
	png, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("firefox wrote no screenshot: %v", err)
	}
	return png
}

// runGroup runs cmd in its own process group and kills whatever of that
// group is left once it exits, so no Firefox helper outlives the test.
func runGroup(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	outErr, err := cmd.CombinedOutput()
	if cmd.Process != nil {
		if kerr := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr,
			syscall.ESRCH) {
			t.Logf("clean up firefox group: %v", kerr)
		}
	}
	if err != nil {
		t.Fatalf("firefox screenshot: %v\n%s", err, outErr)
	}
}
