//go:build linux

package sandbox

import (
	"context"
	"fmt"
	"syscall"
)

// Health counts the zombies among the agent's descendants (the app and its
// helpers) and reads the size of /dev/shm, which the process runtime's
// sandboxes share with the host. Orphans reparented away from the agent
// are the host's init's to reap, and are not counted.
func (s *processSandbox) Health(ctx context.Context) (Health, error) {
	if err := ctx.Err(); err != nil {
		return Health{}, err
	}
	var h Health
	if s.cmd.Process != nil {
		for _, p := range descendants(s.cmd.Process.Pid) {
			if p.state == 'Z' {
				h.Zombies++
			}
		}
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &fs); err != nil {
		return h, fmt.Errorf("sandbox %s: statfs /dev/shm: %w", s.id, err)
	}
	h.ShmBytes = int64(fs.Blocks) * fs.Bsize
	return h, nil
}
