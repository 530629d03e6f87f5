package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/sandbox"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// sandboxStartTimeout bounds starting a sandbox: Xvfb is up in well
	// under a second, a container may need an image layer from disk.
	sandboxStartTimeout = time.Minute

	// sandboxStopTimeout bounds tearing a sandbox down, SIGTERM grace and
	// SIGKILL included.
	sandboxStopTimeout = 20 * time.Second

	// assignBackoffMax caps the pause between assignment tries while the
	// agent is not subscribed yet (no responders).
	assignBackoffMax = 500 * time.Millisecond
)

// resultKind is how an attempt ended.
type resultKind int

const (
	resultFinal    resultKind = iota // the task ended: state is final
	resultRetry                      // the sandbox failed: try another
	resultShutdown                   // the dispatcher is stopping
	resultSettled                    // handled already; settle as told
)

// attemptResult is how one attempt ended and what to record.
type attemptResult struct {
	kind   resultKind
	state  messages.State
	code   messages.Code
	err    error
	seen   []string
	settle settlement
}

func (r attemptResult) errText() string {
	if r.err == nil {
		return ""
	}
	return r.err.Error()
}

func succeeded() attemptResult {
	return attemptResult{kind: resultFinal, state: messages.StateSucceeded}
}

func failed(code messages.Code, format string, args ...any) attemptResult {
	return attemptResult{kind: resultFinal, state: messages.StateFailed, code: code,
		err: fmt.Errorf(format, args...)}
}

func retry(err error) attemptResult { return attemptResult{kind: resultRetry, err: err} }

// attemptRun is one attempt of a task in one sandbox.
type attemptRun struct {
	r       *taskRun
	n       int
	sandbox string
	log     zerolog.Logger
	steps   int // steps reported so far
}

// runAttempt runs the task once in a fresh sandbox and tears it down.
func (d *Dispatcher) runAttempt(ctx context.Context, r *taskRun, n int) attemptResult {
	a := &attemptRun{r: r, n: n, sandbox: "sb-" + shortID()}
	a.log = r.log.With().Str("sandbox", a.sandbox).Int("attempt", n).Logger()

	sb, err := d.startSandbox(ctx, a)
	if err != nil {
		if ctx.Err() != nil {
			return attemptResult{kind: resultShutdown}
		}
		if errors.Is(err, sandbox.ErrUnknownProfile) {
			return failed(messages.CodeInvalidTask, "app.profile: %v", err)
		}
		return retry(err)
	}
	defer d.stopSandbox(ctx, a, sb)

	progress := make(chan messages.Progress, messages.MaxSteps+8)
	sub, err := d.subscribeProgress(a, progress)
	if err != nil {
		return retry(err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	if res := d.markAssigned(ctx, a); res != nil {
		return *res
	}
	d.fleet.set(a.sandbox, messages.SandboxAssigning)
	if res := d.assign(ctx, a, sb); res != nil {
		return *res
	}
	if res := d.markRunning(ctx, a); res != nil {
		return *res
	}
	d.fleet.set(a.sandbox, messages.SandboxRunning)
	return d.await(ctx, a, sb, progress)
}

func (d *Dispatcher) startSandbox(ctx context.Context, a *attemptRun) (sandbox.Sandbox, error) {
	sctx, cancel := context.WithTimeout(ctx, sandboxStartTimeout)
	defer cancel()
	d.fleet.add(a.sandbox, a.r.task.ID, a.n)
	sb, err := d.cfg.Runtime.Start(sctx, sandbox.Spec{
		ID:            a.sandbox,
		Width:         a.r.task.App.Width,
		Height:        a.r.task.App.Height,
		NATSURL:       d.cfg.NATSURL,
		SubjectPrefix: d.subj.Prefix(),
		Profile:       a.r.task.App.Profile,
		Labels: map[string]string{"task": a.r.task.ID, "attempt": strconv.Itoa(a.n),
			"dispatcher": d.cfg.ID},
	})
	if err != nil {
		d.fleet.remove(a.sandbox)
		d.metrics.sandboxLife.WithLabelValues(sandboxStartFailed).Inc()
		a.log.Warn().Err(err).Msg("cannot start sandbox")
		return nil, fmt.Errorf("sandbox start: %w", err)
	}
	if sb.ID() != a.sandbox { // a warm sandbox of a pool: the attempt takes its id
		d.fleet.remove(a.sandbox)
		a.sandbox = sb.ID()
		a.log = a.r.log.With().Str("sandbox", a.sandbox).Int("attempt", a.n).Logger()
		d.fleet.add(a.sandbox, a.r.task.ID, a.n)
	}
	d.fleet.started(sb)
	d.metrics.sandboxLife.WithLabelValues(sandboxStarted).Inc()
	return sb, nil
}

// stopSandbox always runs, shutdown included, so it has its own deadline.
func (d *Dispatcher) stopSandbox(ctx context.Context, a *attemptRun, sb sandbox.Sandbox) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sandboxStopTimeout)
	defer cancel()
	ending := sandboxStopped
	if sandboxEnded(sb) {
		ending = sandboxDied
	}
	d.fleet.set(a.sandbox, messages.SandboxStopping)
	if err := sb.Stop(sctx); err != nil {
		a.log.Error().Err(err).Msg("sandbox teardown failed")
	}
	d.fleet.remove(a.sandbox)
	d.metrics.sandboxLife.WithLabelValues(ending).Inc()
}

// subscribeProgress listens for the agent's progress before the task is
// assigned, so that no report can be missed. Each report is acknowledged
// with an empty reply once it is queued; a report that cannot be queued
// gets no reply, and the agent sends it again.
func (d *Dispatcher) subscribeProgress(a *attemptRun,
	out chan<- messages.Progress) (*nats.Subscription, error) {
	sub, err := d.nc.Subscribe(d.subj.TaskProgress(a.r.task.ID), func(m *nats.Msg) {
		var p messages.Progress
		if err := messages.Decode(m.Data, &p); err != nil {
			a.log.Warn().Err(err).Msg("undecodable progress report ignored")
			_ = m.Respond(nil)
			return
		}
		select {
		case out <- p:
			_ = m.Respond(nil)
		default:
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe progress: %w", err)
	}
	return sub, nil
}

// markAssigned claims the queued attempt for this dispatcher's sandbox.
func (d *Dispatcher) markAssigned(ctx context.Context, a *attemptRun) *attemptResult {
	return d.move(ctx, a, messages.StateAssigned, func(st *messages.TaskStatus) error {
		if st.State != messages.StateQueued {
			return errNotOwner
		}
		st.Sandbox, st.Dispatcher = a.sandbox, d.cfg.ID
		return nil
	})
}

func (d *Dispatcher) markRunning(ctx context.Context, a *attemptRun) *attemptResult {
	return d.move(ctx, a, messages.StateRunning, func(st *messages.TaskStatus) error {
		if st.StartedAt.IsZero() {
			st.StartedAt = time.Now()
		}
		return nil
	})
}

// move writes a state of this attempt; nil means it was written.
func (d *Dispatcher) move(ctx context.Context, a *attemptRun, next messages.State,
	fn func(*messages.TaskStatus) error) *attemptResult {
	kctx, cancel := context.WithTimeout(ctx, kvTimeout)
	defer cancel()
	_, err := d.store.Transition(kctx, a.r.task.ID, next, func(st *messages.TaskStatus) error {
		if st.Attempt != a.n || (st.State != messages.StateQueued && st.Sandbox != a.sandbox) {
			return errNotOwner
		}
		return fn(st)
	})
	if err != nil {
		return &attemptResult{kind: resultSettled, settle: d.writeFailed(ctx, a.r, err)}
	}
	d.logState(a.r, next, a.n).Str("sandbox", a.sandbox).Msg("task " + string(next))
	return nil
}

// appendStep records one step the agent reported.
func (d *Dispatcher) appendStep(ctx context.Context, a *attemptRun,
	step messages.StepResult) *attemptResult {
	kctx, cancel := context.WithTimeout(ctx, kvTimeout)
	defer cancel()
	_, err := d.store.Update(kctx, a.r.task.ID, func(st *messages.TaskStatus) error {
		if st.Attempt != a.n || st.Sandbox != a.sandbox {
			return errNotOwner
		}
		st.Steps = append(st.Steps, step)
		return nil
	})
	if err != nil {
		return &attemptResult{kind: resultSettled, settle: d.writeFailed(ctx, a.r, err)}
	}
	return nil
}
