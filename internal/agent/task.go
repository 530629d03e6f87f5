package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/target"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// maxSeenInError bounds the on-screen texts quoted in a failed task's error;
// Progress.Seen carries all of them.
const maxSeenInError = 10

// session is one attempt at one task: the display, the perceiver, and the
// logger with the task's identity.
type session struct {
	task    messages.Task
	screen  Screen
	input   Input
	see     *perceiver
	metrics *metrics
	log     zerolog.Logger
}

// stepError says which step failed and why.
type stepError struct {
	n    int // 1-based, as people count steps
	desc string
	err  error
}

func (e *stepError) Error() string { return fmt.Sprintf("step %d (%s): %v", e.n, e.desc, e.err) }

func (e *stepError) Unwrap() error { return e.err }

// runTask runs r to its end: opens the display, launches the app, runs the
// steps, stops the app, and reports the result.
func (a *agent) runTask(ctx context.Context, r *run) {
	start := time.Now()
	r.rec = newRecorder(a, r)
	seen, err := a.execute(ctx, r)
	r.rec.end(err)

	final := a.progress(r)
	final.Done, final.OK = true, err == nil
	outcome := "ok"
	if err != nil {
		final.Code, final.Error, final.Seen = messages.CodeOf(err), err.Error(), seen
		if len(seen) > 0 {
			final.Error += "; seen: " + target.Quote(seen[:min(len(seen), maxSeenInError)])
		}
		outcome = "failed"
		if errors.Is(err, errAgentStopped) {
			outcome = "stopped"
		}
	}
	a.metrics.tasks.WithLabelValues(outcome).Inc()
	r.log.Info().Str("event", "task_finished").Bool("ok", final.OK).Int("code", int(final.Code)).
		Str("error", final.Error).Dur("elapsed", time.Since(start)).Msg("task finished")

	a.idle(r)
	a.report(ctx, r, final)
}

// execute runs the task's steps in its app and returns, on failure, the
// texts last seen on screen with the error.
func (a *agent) execute(ctx context.Context, r *run) ([]string, error) {
	ctx, end := context.WithCancelCause(ctx)
	defer end(nil)
	deadline := r.task.Deadline.D()
	ctx, cancel := context.WithTimeoutCause(ctx, deadline,
		messages.Errorf(messages.CodeDeadline, "task deadline %s exceeded", deadline))
	defer cancel()

	s, err := a.openSession(r)
	if err != nil {
		return nil, err
	}
	defer s.close()

	app, err := a.launch(r)
	if err != nil {
		return nil, err
	}
	finished := make(chan struct{})
	go watchApp(app, finished, end, r.log)
	defer func() {
		close(finished)
		if err := app.stop(); err != nil {
			r.log.Warn().Err(err).Msg("stop app")
		}
	}()
	return s.runSteps(ctx, a, r)
}

// runSteps runs the steps in order, reporting each, until one fails. A
// step after which the app shows Firefox's crash page fails, whatever it
// was, with messages.CodeSandboxFailed (C21).
func (s *session) runSteps(ctx context.Context, a *agent, r *run) ([]string, error) {
	for i := range s.task.Steps {
		res, err := s.runStep(ctx, i)
		// find and absent look for the page on every look; this catches
		// steps that do not look, and a crash right after the last look.
		if crashed := errIfCrashed(s.see.boxes); crashed != nil {
			err, res.OK = crashed, false
		}
		if err != nil {
			err = s.failure(ctx, i, err)
			res.Error = err.Error()
		}
		s.log.Debug().Str("event", "step_done").Int("step", i+1).Str("action", string(res.Action)).
			Bool("ok", res.OK).Str("detail", res.Detail).Dur("took", res.Duration.D()).
			Int("frames", res.Frames).Uint64("last_frame", s.see.seq).Msg("step done")
		p := a.progress(r)
		p.Step = res
		a.publishStep(ctx, r, p)
		if err != nil {
			return target.Seen(s.see.boxes), err
		}
	}
	return nil, nil
}

// failure explains a failed step. When the task itself has ended (deadline,
// app exit, agent stop) that is the reason, whatever the step was doing.
func (s *session) failure(ctx context.Context, i int, err error) error {
	step := &s.task.Steps[i]
	switch cause := context.Cause(ctx); {
	case ctx.Err() != nil && isWireError(cause):
		err = cause
	case ctx.Err() != nil:
		err = errAgentStopped
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		err = fmt.Errorf("%w: step timed out after %s", messages.ErrDeadline, stepTimeout(step))
	}
	return &stepError{n: i + 1, desc: step.Describe(), err: err}
}

func isWireError(err error) bool {
	var e *messages.Error
	return errors.As(err, &e)
}

// openSession opens the display for capture and input.
func (a *agent) openSession(r *run) (*session, error) {
	screen, err := a.cfg.OpenScreen(a.cfg.Display)
	if err != nil {
		return nil, messages.Errorf(messages.CodeSandboxFailed, "open display %s for capture: %v",
			a.cfg.Display, err)
	}
	input, err := a.cfg.OpenInput(a.cfg.Display)
	if err != nil {
		_ = screen.Close()
		return nil, messages.Errorf(messages.CodeSandboxFailed, "open display %s for input: %v",
			a.cfg.Display, err)
	}
	if w, h := screen.Size(); w != r.task.App.Width || h != r.task.App.Height {
		r.log.Warn().Int("display_w", w).Int("display_h", h).Int("app_w", r.task.App.Width).
			Int("app_h", r.task.App.Height).Msg("display size differs from the task's")
	}
	base := messages.Frame{Sandbox: a.cfg.Sandbox, Task: r.task.ID}
	subject := a.subjects.Infer(r.task.Model, a.cfg.Sandbox)
	see := newPerceiver(screen, a.infer, a.metrics, a.encode, r.task.Model, subject, base)
	see.rec = r.rec
	return &session{task: r.task, screen: screen, input: input, see: see, metrics: a.metrics, log: r.log}, nil
}

func (s *session) close() {
	_ = s.input.Close()
	_ = s.screen.Close()
}

// launch starts the task's app and logs it. The log names the program and
// its pid, never its arguments, which may carry tokens in URLs.
func (a *agent) launch(r *run) (*app, error) {
	app, err := startApp(appLaunch{spec: r.task.App, display: a.cfg.Display, workDir: a.cfg.WorkDir,
		name: r.task.ID + "-" + strconv.Itoa(r.attempt)})
	if err != nil {
		return nil, err
	}
	r.log.Info().Str("event", "app_started").Str("program", app.name).Int("pid", app.pid()).
		Str("log", app.logPath).Msg("app started")
	return app, nil
}

// watchApp ends the task with messages.CodeAppFailed when the app exits with
// an error before the task has finished.
func watchApp(app *app, finished <-chan struct{}, end context.CancelCauseFunc, log zerolog.Logger) {
	select {
	case <-finished:
		return
	case <-app.done:
	}
	select {
	case <-finished: // stopped by the agent at the task's end
		return
	default:
	}
	if app.err == nil {
		log.Info().Str("event", "app_exited").Msg("app exited with status 0 before the task finished")
		return
	}
	err := app.exitError()
	log.Warn().Err(err).Str("event", "app_exited").Msg("app exited")
	end(err)
}
