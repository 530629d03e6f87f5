//go:build linux

package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Health counts the container's zombie processes from the engine's process
// listing (ps run by the engine: STAT "Z") and reads the /dev/shm size the
// engine mounted (HostConfig.ShmSize).
func (s *dockerSandbox) Health(ctx context.Context) (Health, error) {
	top, err := s.rt.api.ContainerTop(ctx, s.container, []string{"-o", "pid,stat"})
	if err != nil {
		return Health{}, fmt.Errorf("sandbox %s: list processes: %w", s.id, err)
	}
	col := slices.Index(top.Titles, "STAT")
	if col < 0 {
		return Health{}, fmt.Errorf("sandbox %s: process listing has no STAT column: %v", s.id, top.Titles)
	}
	var h Health
	for _, p := range top.Processes {
		if col < len(p) && strings.HasPrefix(p[col], "Z") {
			h.Zombies++
		}
	}
	info, err := s.rt.api.ContainerInspect(ctx, s.container)
	if err != nil {
		return Health{}, fmt.Errorf("sandbox %s: inspect: %w", s.id, err)
	}
	if info.HostConfig != nil {
		h.ShmBytes = info.HostConfig.ShmSize
	}
	return h, nil
}
