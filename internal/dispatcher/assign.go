package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/screenfleet/screenfleet/internal/sandbox"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// assign hands the task to the sandbox's agent. Until the agent has
// subscribed the request meets no responders; it is repeated, with a
// growing pause, until AssignTimeout. nil means the agent accepted.
func (d *Dispatcher) assign(ctx context.Context, a *attemptRun, sb sandbox.Sandbox) *attemptResult {
	task := a.r.task
	task.Record = d.rec.Resolve(task.Record)
	body, err := messages.Encode(messages.Assignment{V: messages.Version, Task: task,
		Attempt: a.n, Sandbox: a.sandbox})
	if err != nil {
		res := failed(messages.CodeInternal, "encode assignment: %v", err)
		return &res
	}
	actx, cancel := context.WithTimeout(ctx, d.cfg.AssignTimeout)
	defer cancel()
	go cancelOn(actx, sb.Done(), cancel)

	var reply *nats.Msg
	for pause := 50 * time.Millisecond; ; pause = min(2*pause, assignBackoffMax) {
		reply, err = d.nc.RequestWithContext(actx, d.subj.Assign(a.sandbox), body)
		if !errors.Is(err, nats.ErrNoResponders) || !sleepCtx(actx, pause) {
			break
		}
	}
	switch {
	case ctx.Err() != nil:
		return &attemptResult{kind: resultShutdown}
	case sandboxEnded(sb):
		res := retry(sandboxErr(sb))
		return &res
	case err != nil:
		res := retry(fmt.Errorf("%w within %s: %v", errAssignTimeout, d.cfg.AssignTimeout, err))
		return &res
	}
	return d.checkAssignReply(a, reply)
}

func (d *Dispatcher) checkAssignReply(a *attemptRun, reply *nats.Msg) *attemptResult {
	var ar messages.AssignReply
	if err := messages.Decode(reply.Data, &ar); err != nil {
		res := retry(fmt.Errorf("agent answered the assignment with %w", err))
		return &res
	}
	if !ar.Accepted {
		res := retry(fmt.Errorf("agent refused the assignment: %v", messages.FromWire(ar.Code, ar.Error)))
		return &res
	}
	return nil
}

// errAssignTimeout means the agent never answered the assignment.
var errAssignTimeout = errors.New("agent did not answer the assignment")

// cancelOn calls cancel when ch closes, unless ctx ends first.
func cancelOn(ctx context.Context, ch <-chan struct{}, cancel context.CancelFunc) {
	select {
	case <-ch:
		cancel()
	case <-ctx.Done():
	}
}

func sandboxEnded(sb sandbox.Sandbox) bool {
	select {
	case <-sb.Done():
		return true
	default:
		return false
	}
}

func sandboxErr(sb sandbox.Sandbox) error {
	if err := sb.Err(); err != nil {
		return err
	}
	return errors.New("sandbox ended")
}

// await follows the agent's progress until the final report, the sandbox's
// death, the task's deadline, a final state written elsewhere (sfctl
// cancel), or shutdown.
func (d *Dispatcher) await(ctx context.Context, a *attemptRun, sb sandbox.Sandbox,
	progress <-chan messages.Progress) attemptResult {
	deadline := time.NewTimer(a.r.task.Deadline.D())
	defer deadline.Stop()
	wctx, unwatch := context.WithCancel(ctx)
	defer unwatch()
	states, err := d.store.Watch(wctx, a.r.task.ID)
	if err != nil {
		a.log.Warn().Err(err).Msg("cannot watch task state; a cancel will be noticed late")
	}
	for {
		select {
		case p := <-progress:
			if res := d.onProgress(ctx, a, p); res != nil {
				return *res
			}
		case st, ok := <-states:
			if !ok {
				states = nil // the watch failed; carry on without it
			} else if st.State.Final() {
				a.log.Info().Str("event", "task_ended_elsewhere").Str("state", string(st.State)).
					Msg("task reached a final state elsewhere; stopping its sandbox")
				d.metrics.finish(st.State, st.Code)
				return attemptResult{kind: resultSettled, settle: settleAck}
			}
		case <-sb.Done():
			return d.afterDeath(ctx, a, sb, progress)
		case <-deadline.C:
			return failed(messages.CodeDeadline, "task deadline %s exceeded at step %d of %d",
				a.r.task.Deadline, min(a.steps+1, len(a.r.task.Steps)), len(a.r.task.Steps))
		case <-ctx.Done():
			return attemptResult{kind: resultShutdown}
		}
	}
}

// afterDeath reads the reports the agent sent before it died: if the final
// one is among them, the task ended before the sandbox did.
func (d *Dispatcher) afterDeath(ctx context.Context, a *attemptRun, sb sandbox.Sandbox,
	progress <-chan messages.Progress) attemptResult {
	for {
		select {
		case p := <-progress:
			if res := d.onProgress(ctx, a, p); res != nil {
				return *res
			}
		default:
			err := sandboxErr(sb)
			a.log.Warn().Err(err).Int("steps_done", a.steps).Msg("sandbox died during the task")
			return retry(err)
		}
	}
}

// onProgress records a step, or turns the final report into the result.
// Reports from another attempt's agent are ignored.
func (d *Dispatcher) onProgress(ctx context.Context, a *attemptRun, p messages.Progress) *attemptResult {
	if p.Task != a.r.task.ID || p.Sandbox != a.sandbox || p.Attempt != a.n {
		a.log.Debug().Str("from_sandbox", p.Sandbox).Int("from_attempt", p.Attempt).Msg("stale progress ignored")
		return nil
	}
	if p.Step.Action != "" {
		if res := d.appendStep(ctx, a, p.Step); res != nil {
			return res
		}
		d.metrics.observeStep(stepAction(a.r.task, p.Step.Index), p.Step)
		a.steps++
	}
	if !p.Done {
		return nil
	}
	if p.OK {
		res := succeeded()
		return &res
	}
	code := p.Code
	if code == messages.CodeOK {
		code = messages.CodeInternal
	}
	if code == messages.CodeSandboxFailed {
		// The agent found its sandbox unusable (a display it cannot open,
		// the app on Firefox's crash page: C21): another sandbox may do.
		a.log.Warn().Str("event", "sandbox_unusable").Str("error", p.Error).
			Msg("agent reports its sandbox unusable; retrying the task in a new one")
		res := retry(errors.New(p.Error))
		return &res
	}
	res := attemptResult{kind: resultFinal, state: messages.StateFailed, code: code,
		err: errors.New(p.Error), seen: p.Seen}
	return &res
}
