package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// appStopGrace is how long a stopping app has between SIGTERM and
	// SIGKILL. Firefox exits within a second of SIGTERM; the sandbox runtime
	// gives agentd 5 s in all, and the final report must fit in them too.
	appStopGrace = 2 * time.Second
	// appKillWait bounds the wait for the app to be reaped after SIGKILL,
	// which the kernel delivers at once unless it sleeps uninterruptibly.
	appKillWait = 3 * time.Second
	// appLogTail is how much of the app's log an early-exit error quotes.
	appLogTail = 512
)

// app is a task's application, running in its own process group so that it
// and every process it starts (browser content processes) stop together.
type app struct {
	name    string // base name of the program, for messages
	cmd     *exec.Cmd
	logPath string
	profile string // browser profile made for the task, removed at stop

	done chan struct{} // closed once the process is reaped
	err  error         // the exit status, set before done is closed
}

// appLaunch is everything needed to start one task's app.
type appLaunch struct {
	spec    messages.App
	display string
	workDir string
	name    string // unique per task and attempt; names the log and profile
}

// startApp starts the app with DISPLAY and a HOME of its own under the work
// dir, stdout and stderr going to a log file there. A Firefox command gets a
// fresh profile (see firefoxArgs).
func startApp(l appLaunch) (*app, error) {
	home := filepath.Join(l.workDir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("%w: app home: %w", messages.ErrSandboxFailed, err)
	}
	a := &app{name: filepath.Base(l.spec.Command[0]), done: make(chan struct{}),
		logPath: filepath.Join(l.workDir, "app-"+l.name+".log")}
	args := l.spec.Command
	if isFirefox(args) {
		a.profile = filepath.Join(l.workDir, "profiles", l.name)
		if err := makeFirefoxProfile(a.profile); err != nil {
			return nil, fmt.Errorf("%w: firefox profile: %w", messages.ErrSandboxFailed, err)
		}
		args = firefoxArgs(args, a.profile, l.spec.Width, l.spec.Height)
	}
	if err := a.start(args, home, l.display); err != nil {
		a.removeProfile()
		return nil, err
	}
	return a, nil
}

func (a *app) start(args []string, home, display string) error {
	logFile, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("%w: app log: %w", messages.ErrSandboxFailed, err)
	}
	defer logFile.Close() // the child has its own descriptor

	a.cmd = exec.Command(args[0], args[1:]...)
	a.cmd.Dir = home
	a.cmd.Env = appEnv(os.Environ(), display, home)
	a.cmd.Stdout, a.cmd.Stderr = logFile, logFile
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		return messages.Errorf(messages.CodeAppFailed, "start app %s: %v", a.name, err)
	}
	go func() {
		a.err = a.cmd.Wait()
		close(a.done)
	}()
	return nil
}

// appEnv is the agent's environment with the app's DISPLAY and HOME, and
// without the agent's own SF_ settings, which may carry credentials.
func appEnv(environ []string, display, home string) []string {
	env := make([]string, 0, len(environ)+2)
	for _, kv := range environ {
		if strings.HasPrefix(kv, "DISPLAY=") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "SF_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "DISPLAY="+display, "HOME="+home)
}

// Pid returns the process id, which is also the process group id.
func (a *app) pid() int { return a.cmd.Process.Pid }

// exitError describes an app that exited on its own, quoting the last line
// of its log.
func (a *app) exitError() error {
	msg := fmt.Sprintf("app %s exited early: %v", a.name, a.err)
	if line := lastLogLine(a.logPath); line != "" {
		msg += fmt.Sprintf(" (log: %q)", line)
	}
	return messages.Errorf(messages.CodeAppFailed, "%s", msg)
}

// stop signals the app's process group with SIGTERM, then SIGKILL after
// appStopGrace, waits until the app is reaped, and removes its profile.
func (a *app) stop() error {
	defer a.removeProfile()
	pgid := a.pid()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(appStopGrace):
	}
	// Also after the leader has gone: its helpers may still run in the group.
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill app %s (pgid %d): %w", a.name, pgid, err)
	}
	select {
	case <-a.done:
		return nil
	case <-time.After(appKillWait):
		return fmt.Errorf("app %s (pid %d) not reaped %s after SIGKILL", a.name, pgid, appKillWait)
	}
}

func (a *app) removeProfile() {
	if a.profile != "" {
		_ = os.RemoveAll(a.profile)
	}
}

func lastLogLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > appLogTail {
		_, _ = f.Seek(-appLogTail, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return strings.TrimSpace(string(lines[len(lines)-1]))
}

// isFirefox reports whether args start Firefox without a profile of its own.
func isFirefox(args []string) bool {
	return strings.HasPrefix(filepath.Base(args[0]), "firefox") &&
		!hasFlag(args[1:], "profile") && !hasFlag(args[1:], "P")
}

// firefoxArgs puts a fresh profile and a window of the task's size in front
// of the command's own arguments. With no window manager Firefox sits at
// (0,0), so screen and page coordinates differ only by its toolbars.
func firefoxArgs(args []string, profile string, w, h int) []string {
	out := []string{args[0], "--profile", profile, "--no-remote", "--new-instance"}
	if !hasFlag(args[1:], "width") && w > 0 && h > 0 {
		out = append(out, "--width", strconv.Itoa(w), "--height", strconv.Itoa(h))
	}
	return append(out, args[1:]...)
}

// hasFlag reports whether args hold -name or --name, alone or with =value.
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		flag, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if strings.HasPrefix(a, "-") && flag == name {
			return true
		}
	}
	return false
}

// firefoxPrefs turn off what a fresh profile would otherwise show or do:
// first-run and welcome pages, telemetry and studies, the default-browser
// check, session restore, the save-password prompt that would cover the
// page after a sign-in, and animations and caret blinking that keep the
// screen from settling.
var firefoxPrefs = []string{
	`user_pref("browser.shell.checkDefaultBrowser", false);`,
	`user_pref("browser.startup.homepage_override.mstone", "ignore");`,
	`user_pref("startup.homepage_welcome_url", "");`,
	`user_pref("startup.homepage_welcome_url.additional", "");`,
	`user_pref("startup.homepage_override_url", "");`,
	`user_pref("browser.aboutwelcome.enabled", false);`,
	`user_pref("trailhead.firstrun.didSeeAboutWelcome", true);`,
	`user_pref("browser.startup.firstrunSkipsHomepage", true);`,
	`user_pref("browser.startup.upgradeDialog.enabled", false);`,
	`user_pref("browser.rights.3.shown", true);`,
	`user_pref("datareporting.policy.dataSubmissionEnabled", false);`,
	`user_pref("datareporting.policy.firstRunURL", "");`,
	`user_pref("datareporting.healthreport.uploadEnabled", false);`,
	`user_pref("toolkit.telemetry.enabled", false);`,
	`user_pref("toolkit.telemetry.unified", false);`,
	`user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);`,
	`user_pref("app.normandy.enabled", false);`,
	`user_pref("app.shield.optoutstudies.enabled", false);`,
	`user_pref("app.update.auto", false);`,
	`user_pref("browser.sessionstore.resume_from_crash", false);`,
	`user_pref("browser.sessionstore.max_resumed_crashes", 0);`,
	`user_pref("browser.startup.page", 0);`,
	`user_pref("browser.tabs.warnOnClose", false);`,
	`user_pref("browser.warnOnQuit", false);`,
	`user_pref("browser.disableResetPrompt", true);`,
	`user_pref("browser.uitour.enabled", false);`,
	`user_pref("extensions.pocket.enabled", false);`,
	`user_pref("browser.translations.automaticallyPopup", false);`,
	`user_pref("signon.rememberSignons", false);`,
	`user_pref("browser.crashReports.unsubmittedCheck.autoSubmit2", false);`,
	`user_pref("ui.prefersReducedMotion", 1);`,
	`user_pref("general.smoothScroll", false);`,
	`user_pref("ui.caretBlinkTime", 0);`,
}

// makeFirefoxProfile creates an empty profile dir with firefoxPrefs in its
// user.js, replacing any left by an earlier attempt.
func makeFirefoxProfile(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	prefs := strings.Join(firefoxPrefs, "\n") + "\n"
	return os.WriteFile(filepath.Join(dir, "user.js"), []byte(prefs), 0o600)
}
