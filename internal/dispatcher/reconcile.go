package dispatcher

import (
	"context"
	"errors"
	"time"

	"github.com/screenfleet/screenfleet/internal/sandbox"
	"github.com/screenfleet/screenfleet/internal/taskstore"
)

// Defaults of ReconcileConfig fields left zero.
const (
	// DefaultOrphanGrace protects a container another dispatcher has just
	// created and not yet recorded in the task's state: that takes at most
	// the sandbox start timeout (1 min), so twice that is safe.
	DefaultOrphanGrace = 2 * time.Minute
	// DefaultReconcileEvery is the pause between two passes. A dispatcher
	// that died leaves its task to be redelivered after the consumer's
	// AckWait (60 s); the pass after that removes its container.
	DefaultReconcileEvery = 30 * time.Second
)

// Reaper is a runtime whose sandboxes can outlive the dispatcher that
// started them (containers). The docker runtime is one.
type Reaper interface {
	// Leftovers lists the sandboxes the runtime did not start or no longer
	// holds.
	Leftovers(ctx context.Context) ([]sandbox.Leftover, error)
	// Remove removes one of them.
	Remove(ctx context.Context, container string) error
}

// ReconcileConfig configures Reconcile.
type ReconcileConfig struct {
	Reaper Reaper
	// Grace is the age under which a leftover is never removed; 0 means
	// DefaultOrphanGrace.
	Grace time.Duration
	// Every is the pause between passes; 0 means DefaultReconcileEvery.
	Every time.Duration
}

// Reconcile removes leftover sandboxes that no live task owns: at once, and
// then every rc.Every until ctx ends. Call it after Start. A leftover is
// owned while its task's state is not final and names its sandbox, or, with
// no task (a warm sandbox), while its dispatcher answers on the sandbox-list
// subject; one this dispatcher's id left behind (a restart under the same
// --id) is never owned, since the dispatcher holds every sandbox it runs.
func (d *Dispatcher) Reconcile(ctx context.Context, rc ReconcileConfig) {
	if rc.Grace <= 0 {
		rc.Grace = DefaultOrphanGrace
	}
	if rc.Every <= 0 {
		rc.Every = DefaultReconcileEvery
	}
	failing := false
	live := newLiveDispatchers(d)
	for {
		err := d.reconcileOnce(ctx, rc, live)
		if err != nil && !failing && ctx.Err() == nil {
			d.log.Warn().Err(err).Str("event", "reconcile_failing").Msg("cannot reconcile sandboxes")
		}
		failing = err != nil
		if !sleepCtx(ctx, rc.Every) {
			return
		}
	}
}

// reconcileOnce makes one pass over the leftovers.
func (d *Dispatcher) reconcileOnce(ctx context.Context, rc ReconcileConfig, live *liveDispatchers) error {
	leftovers, err := rc.Reaper.Leftovers(ctx)
	if err != nil {
		return err
	}
	live.newPass()
	var errs []error
	for _, l := range leftovers {
		reason, err := d.orphaned(ctx, l, rc.Grace, live)
		if err != nil || reason == "" {
			errs = append(errs, err)
			continue
		}
		if err := rc.Reaper.Remove(ctx, l.Container); err != nil {
			errs = append(errs, err)
			continue
		}
		d.log.Info().Str("event", "sandbox_reaped").Str("sandbox", l.Sandbox).Str("task", l.Task).
			Int("attempt", l.Attempt).Str("owner", l.Dispatcher).Str("reason", reason).
			Dur("age", time.Since(l.Created)).Msg("leftover sandbox removed")
	}
	return errors.Join(errs...)
}

// orphaned says why a leftover is to be removed, or "" to keep it. One
// with no task (a warm sandbox, or one taken from a pool) belongs to its
// dispatcher until that dispatcher has failed to answer several passes.
func (d *Dispatcher) orphaned(ctx context.Context, l sandbox.Leftover, grace time.Duration,
	live *liveDispatchers) (string, error) {
	switch {
	case l.Dispatcher == d.cfg.ID: // no grace: this dispatcher holds all of its own
		return "left by an earlier run of this dispatcher", nil
	case time.Since(l.Created) < grace:
		return "", nil
	case l.Task == "":
		gone, err := live.gone(ctx, l.Dispatcher)
		if err != nil || !gone {
			return "", err
		}
		return "no task, and its dispatcher does not answer", nil
	}
	kctx, cancel := context.WithTimeout(ctx, kvTimeout)
	defer cancel()
	st, _, err := d.store.Get(kctx, l.Task)
	switch {
	case errors.Is(err, taskstore.ErrNotFound):
		return "task unknown", nil
	case err != nil:
		return "", err
	case st.State.Final():
		return "task " + string(st.State), nil
	case st.Sandbox != l.Sandbox:
		return "task moved on to another attempt", nil
	}
	return "", nil
}
