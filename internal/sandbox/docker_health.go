//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// healthScript prints, inside a sandbox, how many of its processes are
// zombies, then its /dev/shm's block size and block count. The engine's own
// process listing (docker top) cannot count zombies: it lists the
// container's cgroup, which a process leaves when it exits.
const healthScript = `grep -l '^State:[[:space:]]*Z' /proc/[0-9]*/status 2>/dev/null | wc -l; ` +
	`stat -f -c '%S %b' /dev/shm`

// healthExecLimit bounds one health look when ctx sets no deadline.
const healthExecLimit = 10 * time.Second

// Health runs healthScript in the container (an exec, as the sandbox's
// user) and reads its answer.
func (s *dockerSandbox) Health(ctx context.Context) (Health, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, healthExecLimit)
		defer cancel()
	}
	out, err := s.exec(ctx, healthScript)
	if err != nil {
		return Health{}, fmt.Errorf("sandbox %s: health: %w", s.id, err)
	}
	h, err := parseHealth(out)
	if err != nil {
		return Health{}, fmt.Errorf("sandbox %s: health: %w", s.id, err)
	}
	return h, nil
}

// exec runs script with sh in the container and returns what it printed on
// stdout, or an error with its stderr when it fails.
func (s *dockerSandbox) exec(ctx context.Context, script string) (string, error) {
	ex, err := s.rt.api.ContainerExecCreate(ctx, s.container, container.ExecOptions{
		Cmd: []string{"sh", "-c", script}, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return "", fmt.Errorf("exec create: %w", err)
	}
	att, err := s.rt.api.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return "", fmt.Errorf("exec attach: %w", err)
	}
	defer att.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = att.Conn.SetDeadline(dl) // the hijacked connection ignores ctx
	}
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader); err != nil {
		return "", fmt.Errorf("exec output: %w", err)
	}
	info, err := s.rt.api.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return "", fmt.Errorf("exec inspect: %w", err)
	}
	if info.ExitCode != 0 {
		return "", fmt.Errorf("exec exited with %d: %s", info.ExitCode, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// parseHealth reads healthScript's output: "<zombies>\n<block size> <blocks>\n".
func parseHealth(out string) (Health, error) {
	f := strings.Fields(out)
	if len(f) != 3 {
		return Health{}, fmt.Errorf("unexpected output %q", out)
	}
	zombies, err1 := strconv.Atoi(f[0])
	bsize, err2 := strconv.ParseInt(f[1], 10, 64)
	blocks, err3 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return Health{}, fmt.Errorf("unexpected output %q", out)
	}
	return Health{Zombies: zombies, ShmBytes: bsize * blocks}, nil
}
