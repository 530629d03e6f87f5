//go:build linux

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// sandboxState records how a sandbox ended. The first reason wins, except
// that an end during Stop is ErrStopped.
type sandboxState struct {
	mu       sync.Mutex
	ended    bool
	stopping bool
	reason   error

	stopOnce sync.Once
	stopErr  error
}

// set records reason if the sandbox had not ended yet, and reports whether
// it did.
func (st *sandboxState) set(reason error) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ended {
		return false
	}
	if st.stopping {
		reason = ErrStopped
	}
	st.ended, st.reason = true, reason
	return true
}

func (st *sandboxState) err() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.reason
}

// beginStop marks the sandbox as being stopped and returns the reason it
// had already died for, if it had.
func (st *sandboxState) beginStop() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stopping = true
	return st.reason
}

// Stop terminates the agent's process group and every process descended
// from the agent (an app that moved to its own group included): SIGTERM,
// then SIGKILL after the grace period or when ctx ends. It then stops Xvfb
// and removes the work dir. Later calls return the first call's result.
func (s *processSandbox) Stop(ctx context.Context) error {
	s.state.stopOnce.Do(func() { s.state.stopErr = s.stop(ctx) })
	return s.state.stopErr
}

func (s *processSandbox) stop(ctx context.Context) error {
	diedEarly := s.state.beginStop()
	var tail string
	if diedEarly != nil {
		tail = logTail(s.logPath(), 2048)
	}
	errs := []error{s.killAgent(ctx)}
	if err := s.display.Stop(); err != nil {
		errs = append(errs, fmt.Errorf("stop xvfb: %w", err))
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove work dir: %w", err))
	}
	err := errors.Join(errs...)

	ev := s.log.Info()
	if diedEarly != nil || err != nil {
		ev = s.log.Warn().AnErr("died", diedEarly).Str("agent_log_tail", tail)
	}
	ev.Err(err).Str("event", "sandbox_stopped").Dur("elapsed", time.Since(s.started)).Msg("sandbox stopped")
	if err != nil {
		return fmt.Errorf("sandbox %s: %w", s.id, err)
	}
	return nil
}

// killAgent signals while the agent may still be unreaped, so its pid (the
// group id) cannot have been reused. Descendants are listed first because
// once the agent is gone they are re-parented and can no longer be found.
func (s *processSandbox) killAgent(ctx context.Context) error {
	pgid := s.cmd.Process.Pid
	tree := descendants(pgid)
	signalAll(pgid, tree, syscall.SIGTERM)

	grace := time.NewTimer(s.grace)
	defer grace.Stop()
	select {
	case <-s.agentExited:
	case <-grace.C:
	case <-ctx.Done():
	}
	tree = append(tree, descendants(pgid)...) // children started during the grace period
	signalAll(pgid, tree, syscall.SIGKILL)

	select {
	case <-s.agentExited:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("agentd (pid %d) not reaped %s after SIGKILL", pgid, killWait)
	}
}

// signalAll signals the agent's group and each listed descendant that is
// still the same process (same start time) as when it was listed.
func signalAll(pgid int, tree []proc, sig syscall.Signal) {
	_ = syscall.Kill(-pgid, sig) // ESRCH once the group is empty
	for _, p := range tree {
		if p.pgid != pgid && p.alive() {
			_ = syscall.Kill(p.pid, sig)
		}
	}
}

// logTail returns up to n bytes from the end of the file at path.
func logTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return ""
	}
	return string(buf)
}
