// Package xvfb starts and stops Xvfb virtual X servers.
//
// A Server owns one Xvfb process, started in its own process group with
// -displayfd so that the server itself picks a free display number and
// reports it once it accepts connections. The dispatcher's process runtime
// uses it to give each sandbox its own display, and tests use it to get a
// real X server.
package xvfb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled is returned by Start when the Xvfb binary cannot be found.
// Tests use it to skip with a clear reason.
var ErrNotInstalled = errors.New("xvfb: Xvfb binary not found")

// Depth is the colour depth every display is started with. Older Xvfb builds
// default to depth 8, so the depth is always passed explicitly.
const Depth = 24

const (
	// defaultStartTimeout bounds the wait for the display number when the
	// caller's context has no deadline. Xvfb is ready in 0.03–0.12 s on
	// our machines; 10 s leaves room for a loaded CI host.
	defaultStartTimeout = 10 * time.Second

	// stopGrace is how long Stop waits after SIGTERM before it sends
	// SIGKILL. Xvfb exits within milliseconds of SIGTERM, removing its own
	// lock file and socket; a longer wait only delays a stuck teardown.
	stopGrace = 3 * time.Second

	// stderrTail is how many bytes of Xvfb's stderr are kept to explain a
	// failed start; its fatal errors are a few lines at the end.
	stderrTail = 4096
)

// Config describes the server to start. Width and Height are required.
type Config struct {
	// Width and Height are the screen size in pixels.
	Width, Height int
	// Binary is the Xvfb executable; empty means "Xvfb" looked up in PATH.
	Binary string
	// Stderr, if set, receives a copy of Xvfb's stderr.
	Stderr io.Writer
}

// Server is a running Xvfb process. Its methods are safe for concurrent use.
type Server struct {
	cmd     *exec.Cmd
	display int
	stderr  *tailBuffer
	socket  os.FileInfo // the display socket as created by this server

	done    chan struct{} // closed once the process has been reaped
	waitErr error         // set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// Start starts Xvfb with a single screen of w×h pixels at depth 24 and waits
// until it accepts connections. The context bounds only the start-up wait,
// not the server's life; without a deadline the wait is bounded by 10 s.
// The caller must call Stop.
func Start(ctx context.Context, w, h int) (*Server, error) {
	return StartConfig(ctx, Config{Width: w, Height: h})
}

// StartConfig is like Start with the settings in cfg.
func StartConfig(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("xvfb: invalid screen size %dx%d", cfg.Width, cfg.Height)
	}
	bin, err := lookBinary(cfg.Binary)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}

	s, displayR, err := spawn(bin, cfg)
	if err != nil {
		return nil, err
	}
	defer displayR.Close()

	n, err := s.awaitDisplay(ctx, displayR)
	if err != nil {
		_ = s.Stop()
		return nil, err
	}
	s.display = n
	s.recordSocket()
	return s, nil
}

func lookBinary(name string) (string, error) {
	if name == "" {
		name = "Xvfb"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotInstalled, err)
	}
	return path, nil
}

// spawn starts the process with the write end of a pipe as fd 3 and returns
// the read end, on which Xvfb writes its display number.
func spawn(bin string, cfg Config) (*Server, *os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("xvfb: display pipe: %w", err)
	}
	defer w.Close() // the child holds its own copy; EOF on r means it died

	screen := fmt.Sprintf("%dx%dx%d", cfg.Width, cfg.Height, Depth)
	// -noreset keeps the keymap and other server state when the last
	// client disconnects (a capturer reconnecting must not reset the display).
	cmd := exec.Command(bin, "-displayfd", "3", "-nolisten", "tcp", "-noreset",
		"-screen", "0", screen)
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// If our process dies without calling Stop, take the display down
		// with it; SIGTERM lets Xvfb remove its lock file and socket.
		Pdeathsig: syscall.SIGTERM,
	}
	s := &Server{
		cmd:     cmd,
		display: -1,
		stderr:  &tailBuffer{max: stderrTail},
		done:    make(chan struct{}),
	}
	cmd.Stderr = s.stderr
	if cfg.Stderr != nil {
		cmd.Stderr = io.MultiWriter(s.stderr, cfg.Stderr)
	}
	if err := cmd.Start(); err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("xvfb: start %s: %w", bin, err)
	}
	go s.reap()
	return s, r, nil
}

func (s *Server) reap() {
	s.waitErr = s.cmd.Wait()
	close(s.done)
}

// awaitDisplay reads the display number Xvfb writes once it is ready.
func (s *Server) awaitDisplay(ctx context.Context, r *os.File) (int, error) {
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		n, err := readDisplay(r)
		ch <- result{n, err}
	}()

	select {
	case res := <-ch:
		if res.err != nil {
			return 0, s.startFailure(ctx, res.err)
		}
		return res.n, nil
	case <-ctx.Done():
		// Closing r unblocks the reader once Stop has killed the process.
		return 0, fmt.Errorf("xvfb: waiting for display number: %w", ctx.Err())
	}
}

// startFailure explains a failed read of the display number with the exit
// status, once the process has exited, and the end of its stderr.
func (s *Server) startFailure(ctx context.Context, err error) error {
	status := "still running"
	select {
	case <-s.done:
		status = fmt.Sprint(s.waitErr)
	case <-ctx.Done():
	}
	return fmt.Errorf("xvfb: not ready (process %s): %w: %s", status, err, s.stderr.String())
}

func readDisplay(r io.Reader) (int, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("read display number: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad display number %q", line)
	}
	return n, nil
}

// Display returns the display name, such as ":3", for DISPLAY or an X client.
func (s *Server) Display() string {
	return ":" + strconv.Itoa(s.display)
}

// Number returns the display number chosen by the server.
func (s *Server) Number() int {
	return s.display
}

// Pid returns the process id of Xvfb, which is also its process group id.
func (s *Server) Pid() int {
	return s.cmd.Process.Pid
}

// Done returns a channel that is closed when the Xvfb process has exited,
// whether through Stop or on its own.
func (s *Server) Done() <-chan struct{} {
	return s.done
}

// Stop terminates the server's process group: SIGTERM, then SIGKILL if the
// server has not exited within a grace period. It reaps the process and
// removes the display's socket and lock file if Xvfb left them behind.
// Stop is idempotent; later calls return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

// stop signals the whole group (Xvfb runs xkbcomp as a child) while the
// leader is unreaped, so its pid, and with it the group id, cannot have
// been reused by an unrelated process.
func (s *Server) stop() error {
	pgid := s.cmd.Process.Pid
	select {
	case <-s.done:
	default:
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		if !s.waitDone(stopGrace) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			if !s.waitDone(stopGrace) {
				return fmt.Errorf("xvfb: process %d did not exit after SIGKILL", pgid)
			}
		}
	}
	return s.removeLeftovers()
}

func (s *Server) waitDone(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.done:
		return true
	case <-t.C:
		return false
	}
}

// socketPath and lockPath name the files an X server creates for display n.
// With -displayfd Xvfb 21 creates no lock file, but older builds do.
func socketPath(n int) string { return fmt.Sprintf("/tmp/.X11-unix/X%d", n) }
func lockPath(n int) string   { return fmt.Sprintf("/tmp/.X%d-lock", n) }

// recordSocket remembers the identity of the display's socket file while the
// server is known to own it, so that Stop removes that file and no other.
func (s *Server) recordSocket() {
	if fi, err := os.Lstat(socketPath(s.display)); err == nil {
		s.socket = fi
	}
}

// removeLeftovers deletes what a server killed by SIGKILL leaves behind: the
// socket file if it is stale and still the one recorded at start, and the
// lock file if it names our pid.
func (s *Server) removeLeftovers() error {
	if s.display < 0 {
		return nil
	}
	var errs []error
	if s.staleSocket() {
		errs = append(errs, removeIfExists(socketPath(s.display)))
	}
	if s.ownsLock() {
		errs = append(errs, removeIfExists(lockPath(s.display)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("xvfb: remove leftovers of display %d: %w", s.display, err)
	}
	return nil
}

// staleSocket reports whether the display's socket is still the file this
// server created and nobody listens on it. The inode alone is not enough:
// a new server on the same number may get the freed inode back.
func (s *Server) staleSocket() bool {
	path := socketPath(s.display)
	fi, err := os.Lstat(path)
	if err != nil || s.socket == nil {
		return false
	}
	if !os.SameFile(fi, s.socket) || !fi.ModTime().Equal(s.socket.ModTime()) {
		return false
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func (s *Server) ownsLock() bool {
	data, err := os.ReadFile(lockPath(s.display))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	return err == nil && pid == s.cmd.Process.Pid
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

// Write appends p, dropping the oldest bytes beyond max.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String returns the kept bytes, trimmed of surrounding space.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
