package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/screenfleet/screenfleet/internal/target"
	"github.com/screenfleet/screenfleet/pkg/actuate"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// typeBase and typePerChar size the default timeout of a type step so
	// that long texts are not cut off: the actuator paces keys at about
	// 10 ms each (C01), 25 ms leaves room for a loaded machine.
	typeBase    = 2 * time.Second
	typePerChar = 25 * time.Millisecond
	// sleepMargin lets a sleep step end on its own timer, not its timeout.
	sleepMargin = time.Second
)

// stepTimeout is how long step may take, before the task's deadline cuts it
// shorter.
func stepTimeout(step *messages.Step) time.Duration {
	switch {
	case step.Action == messages.ActionSleep:
		return step.For.D() + sleepMargin
	case step.Timeout > 0:
		return step.Timeout.D()
	case step.Action == messages.ActionType:
		return max(messages.DefaultStepTimeout, typeBase+typePerChar*time.Duration(len([]rune(step.Text))))
	}
	return messages.DefaultStepTimeout
}

// runStep runs step i within its timeout and describes what happened.
func (s *session) runStep(ctx context.Context, i int) (messages.StepResult, error) {
	step := &s.task.Steps[i]
	start := time.Now()
	s.see.frames = 0
	s.see.rec.setStep(i)
	stepCtx, cancel := context.WithTimeout(ctx, stepTimeout(step))
	defer cancel()

	s.metrics.takeStages() // what came before the step is not the step's
	detail, err := s.do(stepCtx, step)
	res := messages.StepResult{Index: i, Action: step.Action, Detail: detail, OK: err == nil,
		Duration: messages.Duration(time.Since(start)), Frames: s.see.frames, Stages: s.metrics.takeStages()}
	outcome := "ok"
	if err != nil {
		outcome, res.Detail = "failed", "" // what was meant to happen did not
	}
	s.metrics.step.WithLabelValues(string(step.Action), outcome).Observe(time.Since(start).Seconds())
	return res, err
}

// do performs one step and returns its detail line.
func (s *session) do(ctx context.Context, step *messages.Step) (string, error) {
	switch step.Action {
	case messages.ActionWaitFor, messages.ActionAssert:
		return s.present(ctx, step)
	case messages.ActionAssertAbsent:
		return s.absent(ctx, step.Target)
	case messages.ActionClick, messages.ActionDoubleClick:
		return s.click(ctx, step)
	case messages.ActionType:
		// The text may be a password: only its length is ever shown.
		n := len([]rune(step.Text))
		return fmt.Sprintf("typed %d characters", n), s.act(ctx, func(ctx context.Context) error {
			return s.input.Type(ctx, step.Text)
		})
	case messages.ActionKey:
		return "pressed " + step.Keys, s.act(ctx, func(ctx context.Context) error {
			return s.input.Key(ctx, step.Keys)
		})
	case messages.ActionScroll:
		return s.scroll(ctx, step)
	case messages.ActionSleep:
		return "slept " + step.For.String(), sleep(ctx, step.For.D())
	}
	return "", messages.Errorf(messages.CodeInvalidTask, "unknown action %q", step.Action)
}

// present waits until the step's target is on screen. An assert that does
// not see it fails with messages.CodeAssertFailed.
func (s *session) present(ctx context.Context, step *messages.Step) (string, error) {
	box, err := s.find(ctx, step.Target)
	if err == nil {
		s.see.rec.action(step, s.see.boxesSeq, box)
	}
	if err != nil {
		if step.Action == messages.ActionAssert && errors.Is(err, messages.ErrTargetNotFound) {
			return "", messages.Errorf(messages.CodeAssertFailed, "%v", err)
		}
		return "", err
	}
	return "found " + describe(box, step.Target), nil
}

// find looks at the screen until t's box is on it, and returns the box. When
// ctx ends first the error is the last *target.NotFoundError.
func (s *session) find(ctx context.Context, t *messages.Target) (messages.Box, error) {
	var notFound error
	for {
		boxes, fresh, err := s.see.look(ctx)
		if err != nil {
			if notFound != nil && ctx.Err() != nil {
				return messages.Box{}, notFound
			}
			return messages.Box{}, err
		}
		if err := errIfCrashed(boxes); err != nil {
			return messages.Box{}, err // no target will show on a crashed tab (C21)
		}
		box, err := target.Select(boxes, t)
		if !errors.Is(err, messages.ErrTargetNotFound) {
			return box, err
		}
		notFound = err
		if s.see.pause(ctx, fresh) != nil {
			return messages.Box{}, notFound
		}
	}
}

// absent looks at the screen until t's box is no longer on it. An assert
// that still sees it when time is up fails with messages.CodeAssertFailed.
func (s *session) absent(ctx context.Context, t *messages.Target) (string, error) {
	var still *messages.Box
	for {
		boxes, fresh, err := s.see.look(ctx)
		if err != nil {
			if still != nil && ctx.Err() != nil {
				return "", stillThere(*still, t)
			}
			return "", err
		}
		if err := errIfCrashed(boxes); err != nil {
			return "", err // a crashed tab shows nothing, which is not "absent" (C21)
		}
		box, err := target.Select(boxes, t)
		if errors.Is(err, messages.ErrTargetNotFound) {
			return "absent: " + t.String(), nil
		}
		if err != nil {
			return "", err
		}
		still = &box
		if s.see.pause(ctx, fresh) != nil {
			return "", stillThere(box, t)
		}
	}
}

func stillThere(box messages.Box, t *messages.Target) error {
	x, y := target.Point(box, nil)
	return messages.Errorf(messages.CodeAssertFailed, "%s is still on screen at (%d,%d)", describe(box,
		t), x, y)
}

// click finds the target and clicks (or double-clicks) at its point.
func (s *session) click(ctx context.Context, step *messages.Step) (string, error) {
	box, err := s.find(ctx, step.Target)
	if err != nil {
		return "", err
	}
	s.see.rec.action(step, s.see.boxesSeq, box)
	x, y := target.Point(box, step.Target)
	verb := "clicked"
	err = s.act(ctx, func(ctx context.Context) error {
		if step.Action == messages.ActionDoubleClick {
			verb = "double-clicked"
			return s.input.DoubleClick(ctx, x, y)
		}
		return s.input.Click(ctx, x, y, actuate.ButtonLeft)
	})
	return fmt.Sprintf("%s %s at (%d,%d)", verb, describe(box, step.Target), x, y), err
}

// scroll turns the wheel at the target, or at the screen's centre.
func (s *session) scroll(ctx context.Context, step *messages.Step) (string, error) {
	w, h := s.screen.Size()
	x, y := w/2, h/2
	if step.Target != nil {
		box, err := s.find(ctx, step.Target)
		if err != nil {
			return "", err
		}
		s.see.rec.action(step, s.see.boxesSeq, box)
		x, y = target.Point(box, step.Target)
	}
	return fmt.Sprintf("scrolled %d at (%d,%d)", step.Amount, x, y), s.act(ctx,
		func(ctx context.Context) error {
			return s.input.Scroll(ctx, x, y, step.Amount)
		})
}

// act performs an input action and waits for the screen to settle. The
// action counts as done even when it fails part way: frames from before it
// are never used again.
func (s *session) act(ctx context.Context, do func(context.Context) error) error {
	s.see.acting()
	start := time.Now()
	err := do(ctx)
	s.metrics.observe(stageAct, start)
	if settleErr := s.see.acted(ctx); err == nil && settleErr != nil {
		return settleErr
	}
	if err != nil {
		return fmt.Errorf("%w: %w", messages.ErrActionFailed, err)
	}
	return nil
}

// describe names a chosen box for detail lines: its text, else its class,
// else the target.
func describe(box messages.Box, t *messages.Target) string {
	switch {
	case box.Text != "":
		return strconv.Quote(box.Text)
	case box.Class != "":
		return box.Class
	}
	return t.String()
}
