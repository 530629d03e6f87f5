// Package ocrtest renders test screens for OCR tests: an HTML page drawn by
// headless Firefox, the same renderer the sandboxes run.
package ocrtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	png, _ := render(t, html, width, height)
	return png
}

// ScreenshotRects is Screenshot that also returns where Firefox laid out
// each element carrying a data-rect attribute, keyed by that attribute's
// value: its border box from getBoundingClientRect, widened to whole pixels.
// The page must not scroll.
func ScreenshotRects(t testing.TB, html string, width, height int) ([]byte, map[string]Rect) {
	t.Helper()
	png, out := render(t, strings.Replace(html, "</body>", rectScript+"</body>", 1), width, height)
	rects := map[string]Rect{}
	for _, line := range strings.Split(out, "\n") {
		var name string
		var x, y, w, h float64
		if _, err := fmt.Sscanf(line, "SFRECT %q %g %g %g %g", &name, &x, &y, &w, &h); err != nil {
			continue
		}
		x0, y0 := int(math.Floor(x)), int(math.Floor(y))
		rects[name] = Rect{X: x0, Y: y0, W: int(math.Ceil(x+w)) - x0, H: int(math.Ceil(y+h)) - y0}
	}
	if len(rects) == 0 {
		t.Fatalf("firefox reported no element rectangles; its output:\n%s", out)
	}
	return png, rects
}

// rectScript prints the rectangle of every element with a data-rect
// attribute through dump(), which the profile's user.js turns on.
const rectScript = `<script>
for (const e of document.querySelectorAll("[data-rect]")) {
  const r = e.getBoundingClientRect();
  dump("SFRECT " + JSON.stringify(e.dataset.rect) + " " + r.x + " " + r.y + " " + r.width + " " +
    r.height + "\n");
}
</script>`

// ScreenshotURL is Screenshot of a URL Firefox loads itself, such as
// about:tabcrashed.
func ScreenshotURL(t testing.TB, url string, width, height int) []byte {
	t.Helper()
	png, _ := renderURL(t, url, "", width, height)
	return png
}

// render runs Firefox on html and returns the screenshot and what Firefox
// printed.
func render(t testing.TB, html string, width, height int) ([]byte, string) {
	t.Helper()
	return renderURL(t, "", html, width, height)
}

// renderURL renders url, or html when url is empty.
func renderURL(t testing.TB, url, html string, width, height int) ([]byte, string) {
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
	if url == "" {
		url = "file://" + page
		if err := os.WriteFile(page, []byte(html), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	profile := filepath.Join(dir, "profile")
	if err := os.Mkdir(profile, 0o700); err != nil {
		t.Fatal(err)
	}
	prefs := `user_pref("browser.dom.window.dump.enabled", true);` + "\n"
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(prefs), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), renderTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, firefox, "--headless", "--no-remote", "--profile", profile,
		"--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height),
		"--screenshot", out, url)
	cmd.Env = append(os.Environ(), "HOME="+dir, "MOZ_CRASHREPORTER_DISABLE=1")
	printed := runGroup(t, cmd)
	png, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("firefox wrote no screenshot: %v", err)
	}
	return png, printed
}

// runGroup runs cmd in its own process group and kills whatever of that
// group is left once it exits, so no Firefox helper outlives the test.
func runGroup(t testing.TB, cmd *exec.Cmd) string {
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
	return string(outErr)
}
