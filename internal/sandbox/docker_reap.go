//go:build linux

package sandbox

import (
	"context"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// Leftover is a sandbox container on the engine that this runtime does not
// hold: one a crashed dispatcher left, or another dispatcher's.
type Leftover struct {
	// Container is the container's id.
	Container string
	// Sandbox, Task, Attempt and Dispatcher are read from its labels.
	Sandbox, Task, Dispatcher string
	Attempt                   int
	// Created is when the container was created.
	Created time.Time
	// State is the engine's word for it: running, exited, created...
	State string
}

// Leftovers lists the sandbox containers on the runtime's network that it
// did not start or has already let go of. The network scopes a deployment:
// a second one on the same engine (staging next to production, or two test
// runs) uses another network and another NATS, and must not be reaped for
// tasks this one's NATS does not know.
func (d *Docker) Leftovers(ctx context.Context) ([]Leftover, error) {
	list, err := d.api.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelSandbox), filters.Arg("network", d.cfg.Network))})
	if err != nil {
		return nil, fmt.Errorf("sandbox: list containers: %w", err)
	}
	var out []Leftover
	for _, c := range list {
		if d.holds(c.ID, c.Labels[LabelSandbox]) {
			continue
		}
		attempt := 0
		_, _ = fmt.Sscan(c.Labels[LabelAttempt], &attempt)
		out = append(out, Leftover{Container: c.ID, Sandbox: c.Labels[LabelSandbox],
			Task: c.Labels[LabelTask], Dispatcher: c.Labels[LabelDispatcher], Attempt: attempt,
			Created: time.Unix(c.Created, 0), State: string(c.State)})
	}
	return out, nil
}

// Remove removes a leftover container, running or not. One already gone
// is not an error.
func (d *Docker) Remove(ctx context.Context, containerID string) error {
	if sb := d.holding(containerID); sb != nil {
		return fmt.Errorf("sandbox: container %s belongs to live sandbox %s", containerID, sb.id)
	}
	err := d.api.ContainerRemove(ctx, containerID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("sandbox: remove container %s: %w", strings.TrimSpace(containerID), err)
	}
	return nil
}
