//go:build linux

package sandbox

import (
	"context"

	cerrdefs "github.com/containerd/errdefs"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

const (
	// watchRetry is the pause before reconnecting to the engine's event
	// stream after it ended (engine restart, socket hiccup).
	watchRetry = time.Second

	// inspectTimeout bounds one inspect made while handling an event.
	inspectTimeout = 10 * time.Second
)

// watch follows the engine's die and oom events for sandbox containers
// until ctx ends. After every (re)connection it inspects the containers it
// holds, so that a death during a gap in the stream is not missed.
func (d *Docker) watch(ctx context.Context) {
	defer close(d.watchDone)
	since := time.Now()
	failing := false
	for ctx.Err() == nil {
		opts := events.ListOptions{Since: eventTime(since), Filters: filters.NewArgs(
			filters.Arg("type", string(events.ContainerEventType)),
			filters.Arg("label", LabelSandbox),
			filters.Arg("event", string(events.ActionDie)),
			filters.Arg("event", string(events.ActionOOM)))}
		msgs, errs := d.api.Events(ctx, opts)
		d.recheck(ctx)
		handled, err := d.follow(ctx, msgs, errs, &since)
		if ctx.Err() != nil {
			return
		}
		if !failing || handled > 0 { // once per outage, not once per retry
			d.log.Warn().Err(err).Str("event", "docker_events_lost").Msg("docker event stream ended; reconnecting")
		}
		failing = true
		select {
		case <-time.After(watchRetry):
		case <-ctx.Done():
		}
	}
}

// follow handles events until the stream fails, advances since past each
// one handled, and returns how many it handled.
func (d *Docker) follow(ctx context.Context, msgs <-chan events.Message, errs <-chan error,
	since *time.Time) (int, error) {
	for n := 0; ; n++ {
		select {
		case m := <-msgs:
			*since = time.Unix(0, m.TimeNano)
			d.onEvent(ctx, m)
		case err := <-errs:
			return n, err
		case <-ctx.Done():
			return n, ctx.Err()
		}
	}
}

func eventTime(t time.Time) string {
	return strconv.FormatInt(t.Unix(), 10) + "." + strconv.Itoa(t.Nanosecond())
}

// onEvent ends the sandbox of a container that died. An oom event usually
// comes before the die event of the same kill, and the inspect after die
// says OOMKilled; either is taken as the reason.
func (d *Docker) onEvent(ctx context.Context, m events.Message) {
	sb := d.holding(m.Actor.ID)
	if sb == nil {
		return
	}
	switch m.Action {
	case events.ActionOOM:
		sb.oomSeen.Store(true)
		sb.log.Warn().Str("event", "sandbox_oom").Msg("sandbox container ran out of memory")
	case events.ActionDie:
		code, _ := strconv.Atoi(m.Actor.Attributes["exitCode"])
		d.inspectDeath(ctx, sb, code)
	}
}

// inspectDeath ends sb with the reason its container died.
func (d *Docker) inspectDeath(ctx context.Context, sb *dockerSandbox, code int) {
	ictx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	oom := false
	if info, err := d.api.ContainerInspect(ictx, sb.container); err == nil && info.State != nil {
		oom, code = info.State.OOMKilled, info.State.ExitCode
	}
	sb.died(code, oom)
}

// recheck ends the held sandboxes whose container is no longer running.
func (d *Docker) recheck(ctx context.Context) {
	d.mu.Lock()
	held := make([]*dockerSandbox, 0, len(d.live))
	for _, sb := range d.live {
		held = append(held, sb)
	}
	d.mu.Unlock()
	for _, sb := range held {
		ictx, cancel := context.WithTimeout(ctx, inspectTimeout)
		info, err := d.api.ContainerInspect(ictx, sb.container)
		cancel()
		switch {
		case cerrdefs.IsNotFound(err):
			sb.end(errNoContainer)
		case err == nil && info.State != nil && !info.State.Running && info.State.Status != "created":
			sb.died(info.State.ExitCode, info.State.OOMKilled)
		}
	}
}
