//go:build linux

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/xvfb"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// defaultStopGrace is how long Stop waits after SIGTERM before SIGKILL.
	// agentd closes the app, flushes its last progress and exits within a
	// second or two; a browser that ignores SIGTERM should not hold a slot.
	defaultStopGrace = 5 * time.Second

	// killWait bounds the wait for the agent to be reaped after SIGKILL,
	// which the kernel delivers at once unless the process is stuck in an
	// uninterruptible sleep.
	killWait = 3 * time.Second

	// agentLogName is the agent's log file inside the sandbox's work dir.
	agentLogName = "agentd.log"
)

// Process is the runtime that runs each sandbox as local processes: one
// Xvfb and one agentd, each in its own process group.
type Process struct {
	cfg    ProcessConfig
	agentd string
	log    zerolog.Logger
}

// NewProcess returns a process runtime. It fails when agentd cannot be found
// or the work root cannot be created.
func NewProcess(cfg ProcessConfig, log zerolog.Logger) (*Process, error) {
	agentd, err := findAgentd(cfg.AgentdPath)
	if err != nil {
		return nil, err
	}
	if cfg.WorkRoot == "" {
		cfg.WorkRoot = filepath.Join(os.TempDir(), "screenfleet-sandboxes")
	}
	if cfg.AgentLogFormat == "" {
		cfg.AgentLogFormat = "json"
	}
	if cfg.AgentHTTPAddr == "" {
		cfg.AgentHTTPAddr = "127.0.0.1:0"
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = defaultStopGrace
	}
	if err := os.MkdirAll(cfg.WorkRoot, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox: work root: %w", err)
	}
	return &Process{cfg: cfg, agentd: agentd, log: log}, nil
}

// AgentdPath returns the agentd binary the runtime starts.
func (p *Process) AgentdPath() string { return p.agentd }

func findAgentd(path string) (string, error) {
	if path != "" {
		found, err := exec.LookPath(path)
		if err != nil {
			return "", fmt.Errorf("sandbox: agentd %q: %w", path, err)
		}
		return found, nil
	}
	if exe, err := os.Executable(); err == nil {
		next := filepath.Join(filepath.Dir(exe), "agentd")
		if st, err := os.Stat(next); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return next, nil
		}
	}
	found, err := exec.LookPath("agentd")
	if err != nil {
		return "", fmt.Errorf("sandbox: agentd not next to this executable nor in PATH (set --agentd): %w", err)
	}
	return found, nil
}

// Start makes the sandbox's work dir, starts Xvfb, then agentd on it.
func (p *Process) Start(ctx context.Context, spec Spec) (Sandbox, error) {
	if err := messages.CheckToken("sandbox id", spec.ID); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if spec.Profile != "" {
		return nil, fmt.Errorf("%w %q: the process runtime runs every sandbox with this host's programs; "+
			"profiles need the docker runtime", ErrUnknownProfile, spec.Profile)
	}
	began := time.Now()
	dir := filepath.Join(p.cfg.WorkRoot, spec.ID)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("sandbox %s: clear work dir: %w", spec.ID, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox %s: work dir: %w", spec.ID, err)
	}
	display, err := xvfb.Start(ctx, spec.Width, spec.Height)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("sandbox %s: %w", spec.ID, err)
	}
	sb := &processSandbox{id: spec.ID, dir: dir, display: display, grace: p.cfg.StopGrace,
		done: make(chan struct{}), agentExited: make(chan struct{}), started: began}
	sb.log = p.log.With().Str("sandbox", spec.ID).Fields(labelFields(spec.Labels)).Logger()
	if err := p.startAgent(sb, spec); err != nil {
		_ = display.Stop()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	go sb.watch()
	sb.log.Info().Str("event", "sandbox_started").Str("runtime", "process").
		Int("pid", sb.cmd.Process.Pid).Str("display", display.Display()).
		Str("agent_log", sb.logPath()).Dur("elapsed", time.Since(began)).Msg("sandbox started")
	return sb, nil
}

func labelFields(labels map[string]string) map[string]any {
	fields := make(map[string]any, len(labels))
	for k, v := range labels {
		fields[k] = v
	}
	return fields
}

func (p *Process) startAgent(sb *processSandbox, spec Spec) error {
	logFile, err := os.OpenFile(sb.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("sandbox %s: agent log: %w", spec.ID, err)
	}
	defer logFile.Close() // the child holds its own descriptor

	natsURL, err := agentNATSURL(spec.NATSURL, p.cfg.AgentAuth, spec.ID)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.agentd,
		"--sandbox", spec.ID,
		"--display", sb.display.Display(),
		"--work-dir", sb.dir,
		"--subject-prefix", messages.NewSubjects(spec.SubjectPrefix).Prefix(),
		"--http-addr", p.cfg.AgentHTTPAddr,
		"--log-format", p.cfg.AgentLogFormat,
	)
	cmd.Dir = sb.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The server URL goes in the environment, not the arguments: it may
	// carry a password, and any local user can read a process's arguments.
	cmd.Env = append(append(withoutSecrets(os.Environ()), "DISPLAY="+sb.display.Display(),
		"SF_NATS_URL="+natsURL), p.cfg.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true, // Stop signals the agent and the app it launched as one group
		// If the dispatcher dies without Stop, SIGTERM lets agentd close the app.
		Pdeathsig: syscall.SIGTERM,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("sandbox %s: start agentd: %w", spec.ID, err)
	}
	sb.cmd = cmd
	return nil
}

// withoutSecrets returns env without the dispatcher's auth callout
// settings (internal/agentauth's flags), which would let an agent make
// any sandbox's password. Shortcoming: an agent runs as the dispatcher's
// user here, so it could still read the dispatcher's environment in /proc
// or the secret's file; only the docker runtime keeps agents apart.
func withoutSecrets(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, "SF_AGENT_SECRET") || strings.HasPrefix(kv, "SF_CALLOUT_")
	})
}

// processSandbox is one sandbox of the process runtime.
type processSandbox struct {
	id      string
	dir     string
	display *xvfb.Server
	cmd     *exec.Cmd
	grace   time.Duration
	log     zerolog.Logger
	started time.Time

	agentExited chan struct{} // closed once the agent is reaped
	done        chan struct{}
	state       sandboxState
}

// ID returns the sandbox id.
func (s *processSandbox) ID() string { return s.id }

// Done is closed when the agent or the display has exited.
func (s *processSandbox) Done() <-chan struct{} { return s.done }

// Err says why the sandbox ended, once Done is closed.
func (s *processSandbox) Err() error { return s.state.err() }

func (s *processSandbox) logPath() string { return filepath.Join(s.dir, agentLogName) }

// watch reaps the agent and notices a display that dies under it. The first
// thing to end gives the sandbox its reason.
func (s *processSandbox) watch() {
	reaped := make(chan error, 1)
	go func() { reaped <- s.cmd.Wait() }()
	select {
	case err := <-reaped:
		s.end(exitReason(err))
		close(s.agentExited)
	case <-s.display.Done():
		s.end(errors.New("xvfb exited"))
		s.end(exitReason(<-reaped)) // Stop or the agent's own exit follows
		close(s.agentExited)
	}
}

func (s *processSandbox) end(reason error) {
	if s.state.set(reason) {
		close(s.done)
	}
}

func exitReason(err error) error {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		if err == nil {
			return errors.New("agentd exited with status 0")
		}
		return fmt.Errorf("agentd: %w", err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Errorf("agentd killed by signal %s", ws.Signal())
	}
	return fmt.Errorf("agentd exited with status %d", exit.ExitCode())
}
