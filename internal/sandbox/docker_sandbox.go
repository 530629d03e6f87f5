//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/rs/zerolog"
)

// ErrOOMKilled is wrapped by the Err of a sandbox the kernel killed for
// going over its memory limit.
var ErrOOMKilled = errors.New("OOM-killed")

// logTailLines is how much of a dead container's output Stop logs: enough
// for agentd's last error and the entrypoint's complaint.
const logTailLines = "20"

// dockerSandbox is one sandbox of the docker runtime: one container.
type dockerSandbox struct {
	rt          *Docker
	id          string
	container   string
	vnc         string
	vncPassword string
	log         zerolog.Logger
	started     time.Time

	done    chan struct{}
	state   sandboxState
	oomSeen atomic.Bool // an oom event came for the container
}

// ID returns the sandbox id.
func (s *dockerSandbox) ID() string { return s.id }

// Done is closed when the container has died or been stopped.
func (s *dockerSandbox) Done() <-chan struct{} { return s.done }

// Err says why the container ended, once Done is closed.
func (s *dockerSandbox) Err() error { return s.state.err() }

// VNCAddr returns the host address where a VNC viewer can watch the
// display, or "" when VNC is off.
func (s *dockerSandbox) VNCAddr() string { return s.vnc }

// VNCPassword returns the sandbox's generated VNC password.
func (s *dockerSandbox) VNCPassword() string { return s.vncPassword }

// Container returns the container's id.
func (s *dockerSandbox) Container() string { return s.container }

func (s *dockerSandbox) end(reason error) {
	if s.state.set(reason) {
		close(s.done)
	}
}

// died records the container's death as the engine reported it.
func (s *dockerSandbox) died(exitCode int, oomKilled bool) {
	if oomKilled || s.oomSeen.Load() {
		s.end(fmt.Errorf("sandbox container %w (memory limit %d MiB)", ErrOOMKilled, s.rt.cfg.Memory>>20))
		return
	}
	s.end(fmt.Errorf("sandbox container exited with code %d", exitCode))
}

// Stop stops the container (SIGTERM, then SIGKILL after the grace period)
// and removes it. Later calls return the first call's result.
func (s *dockerSandbox) Stop(ctx context.Context) error {
	s.state.stopOnce.Do(func() { s.state.stopErr = s.stop(ctx) })
	return s.state.stopErr
}

func (s *dockerSandbox) stop(ctx context.Context) error {
	diedEarly := s.state.beginStop()
	var tail string
	if diedEarly != nil {
		tail = s.logTail(ctx)
	}
	grace := int(s.rt.cfg.StopGrace.Seconds() + 0.5)
	err := s.rt.api.ContainerStop(ctx, s.container, container.StopOptions{Timeout: &grace})
	if err != nil && !cerrdefs.IsNotFound(err) {
		err = fmt.Errorf("stop container: %w", err) // still removed below, by force
	} else {
		err = nil
	}
	rmErr := s.rt.api.ContainerRemove(ctx, s.container, container.RemoveOptions{Force: true,
		RemoveVolumes: true})
	if rmErr != nil && !cerrdefs.IsNotFound(rmErr) {
		err = errors.Join(err, fmt.Errorf("remove container: %w", rmErr))
	}
	s.rt.release(s)
	s.end(ErrStopped)

	ev := s.log.Info()
	if diedEarly != nil || err != nil {
		ev = s.log.Warn().AnErr("died", diedEarly).Str("container_log_tail", tail)
	}
	ev.Err(err).Str("event", "sandbox_stopped").Dur("elapsed", time.Since(s.started)).Msg("sandbox stopped")
	if err != nil {
		return fmt.Errorf("sandbox %s: %w", s.id, err)
	}
	return nil
}

// logTail returns the last lines the container wrote, for the log line of
// a sandbox that died.
func (s *dockerSandbox) logTail(ctx context.Context) string {
	rc, err := s.rt.api.ContainerLogs(ctx, s.container,
		container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: logTailLines})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, rc)
	return out.String()
}
