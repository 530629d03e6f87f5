package agent

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

func TestFirefoxArgs(t *testing.T) {
	tests := []struct {
		in   []string
		want []string // nil: left as it is
	}{
		{[]string{"firefox-esr", "--kiosk", "http://x/"},
			[]string{"firefox-esr", "--profile", "/p", "--no-remote", "--new-instance", "--width", "1280", "--height", "800", "--kiosk", "http://x/"}},
		{[]string{"/usr/lib/firefox/firefox", "http://x/"},
			[]string{"/usr/lib/firefox/firefox", "--profile", "/p", "--no-remote", "--new-instance", "--width", "1280", "--height", "800", "http://x/"}},
		{[]string{"firefox", "-width", "800", "http://x/"},
			[]string{"firefox", "--profile", "/p", "--no-remote", "--new-instance", "-width", "800", "http://x/"}},
		{[]string{"firefox-esr", "--profile", "/mine", "http://x/"}, nil},
		{[]string{"firefox-esr", "-profile=/mine"}, nil},
		{[]string{"firefox-esr", "-P", "work"}, nil},
		{[]string{"chromium", "--kiosk"}, nil},
		{[]string{"/opt/myfirefoxwrapper.sh"}, nil},
	}
	for _, tt := range tests {
		if !isFirefox(tt.in) {
			if tt.want != nil {
				t.Errorf("isFirefox(%q) = false", tt.in)
			}
			continue
		}
		if tt.want == nil {
			t.Errorf("isFirefox(%q) = true, want the command left as it is", tt.in)
			continue
		}
		if got := firefoxArgs(tt.in, "/p", 1280, 800); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("firefoxArgs(%q) =\n%q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestFirefoxProfile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "profile")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sessionstore.jsonlz4"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := makeFirefoxProfile(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "user.js" {
		t.Fatalf("profile holds %v, want a fresh one with user.js only", entries)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "user.js"))
	for _, pref := range []string{"browser.shell.checkDefaultBrowser", "toolkit.telemetry.enabled",
		"browser.aboutwelcome.enabled", "browser.sessionstore.resume_from_crash", "datareporting.policy.dataSubmissionEnabled"} {
		if !strings.Contains(string(b), `user_pref("`+pref+`"`) {
			t.Errorf("user.js lacks %s", pref)
		}
	}
}

func TestAppEnv(t *testing.T) {
	env := appEnv([]string{"PATH=/bin", "HOME=/root", "DISPLAY=:0", "SF_NATS_URL=nats://secret@x",
		"LANG=C"}, ":5", "/w/home")
	want := []string{"PATH=/bin", "LANG=C", "DISPLAY=:5", "HOME=/w/home"}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("appEnv = %q, want %q", env, want)
	}
}

func launchTest(t *testing.T, command ...string) *app {
	t.Helper()
	dir := t.TempDir()
	a, err := startApp(appLaunch{spec: messages.App{Command: command, Width: 320, Height: 200},
		display: ":99", workDir: dir, name: "t-1"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAppRunsInItsOwnGroupWithHome(t *testing.T) {
	a := launchTest(t, "sh", "-c", `echo "$HOME $DISPLAY"; sleep 300`)
	defer a.stop()
	pgid, err := syscall.Getpgid(a.pid())
	if err != nil || pgid != a.pid() {
		t.Fatalf("app pgid = %d, %v; want its own group %d", pgid, err, a.pid())
	}
	waitUntil(t, 5*time.Second, "the app's output", func() bool { return lastLogLine(a.logPath) != "" })
	home := filepath.Join(filepath.Dir(a.logPath), "home")
	if got := lastLogLine(a.logPath); got != home+" :99" {
		t.Errorf("app saw %q, want %q", got, home+" :99")
	}
}

func TestAppStopKillsTheGroup(t *testing.T) {
	// The shell ignores SIGTERM and leaves a child behind, like a browser
	// with content processes.
	a := launchTest(t, "sh", "-c", `trap "" TERM; sleep 300 & echo $!; wait`)
	waitUntil(t, 5*time.Second, "the child's pid", func() bool { return lastLogLine(a.logPath) != "" })
	child, err := strconv.Atoi(lastLogLine(a.logPath))
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < appStopGrace || took > appStopGrace+appKillWait {
		t.Errorf("stop took %s, want SIGKILL after the %s grace", took, appStopGrace)
	}
	waitUntil(t, 5*time.Second, "the child to die", func() bool { return gone(child) })
}

// gone reports whether pid no longer runs (absent, or a zombie not yet reaped
// by an init that is slow to do so).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

func TestAppExitError(t *testing.T) {
	a := launchTest(t, "sh", "-c", "echo starting; echo 'Error: no display' >&2; exit 3")
	<-a.done
	err := a.exitError()
	if !errors.Is(err, messages.ErrAppFailed) {
		t.Fatalf("exitError = %v, want ErrAppFailed", err)
	}
	if want := `app sh exited early: exit status 3 (log: "Error: no display")`; err.Error() != want {
		t.Errorf("exitError = %q, want %q", err, want)
	}
	if err := a.stop(); err != nil {
		t.Errorf("stop after exit: %v", err)
	}
}

func TestAppThatCannotStart(t *testing.T) {
	_, err := startApp(appLaunch{spec: messages.App{Command: []string{"/nonexistent/app"}},
		display: ":99", workDir: t.TempDir(), name: "t-1"})
	if !errors.Is(err, messages.ErrAppFailed) || !strings.Contains(err.Error(), "/nonexistent/app") {
		t.Fatalf("startApp = %v, want ErrAppFailed naming the program", err)
	}
}

func TestFirefoxLaunchGetsProfileRemovedAtStop(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "firefox-fake")
	script := "#!/bin/sh\necho \"$@\"\nexec sleep 300\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	a, err := startApp(appLaunch{spec: messages.App{Command: []string{bin, "http://x/"}, Width: 640,
		Height: 480},
		display: ":99", workDir: dir, name: "t-2"})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the arguments", func() bool { return lastLogLine(a.logPath) != "" })
	args := strings.Fields(lastLogLine(a.logPath))
	if !slices.Contains(args, "--no-remote") || !slices.Contains(args,
		a.profile) || args[len(args)-1] != "http://x/" {
		t.Errorf("firefox got %q", args)
	}
	if _, err := os.Stat(filepath.Join(a.profile, "user.js")); err != nil {
		t.Fatal(err)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.profile); !os.IsNotExist(err) {
		t.Errorf("profile left behind: %v", err)
	}
}
