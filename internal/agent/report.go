package agent

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// stepReportTimeout bounds the wait for the dispatcher to acknowledge a
	// step's progress: it does so after one KV write, in milliseconds, and
	// a lost step report must not hold up the task.
	stepReportTimeout = time.Second
	// finalReportWindow is how long the final progress is retried: long
	// enough to ride out a dispatcher restart, since it must arrive.
	finalReportWindow = 30 * time.Second
	// stopReportWindow is the retry window left once the agent is stopping:
	// the sandbox runtime kills agentd 5 s after SIGTERM.
	stopReportWindow = 2 * time.Second
	// reportAttemptTimeout bounds one attempt of the final report.
	reportAttemptTimeout = 2 * time.Second
	// reportBackoffMin/Max space the attempts of the final report.
	reportBackoffMin = 100 * time.Millisecond
	reportBackoffMax = 2 * time.Second
)

// progress returns r's progress message with its identity filled in.
func (a *agent) progress(r *run) messages.Progress {
	return messages.Progress{V: messages.Version, Task: r.task.ID, Sandbox: a.cfg.Sandbox,
		Attempt: r.attempt, Steps: len(r.task.Steps)}
}

// publishStep sends one step's progress as a request and waits briefly for
// the acknowledgement. It is best effort: the final report carries the end.
func (a *agent) publishStep(ctx context.Context, r *run, p messages.Progress) {
	data, err := messages.Encode(&p)
	if err != nil {
		r.log.Error().Err(err).Msg("encode progress")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stepReportTimeout)
	defer cancel()
	if _, err := a.nc.RequestWithContext(ctx, a.subjects.TaskProgress(r.task.ID), data); err != nil {
		r.log.Debug().Err(err).Int("step", p.Step.Index+1).Msg("step progress not acknowledged")
	}
}

// report sends the final progress as a request and retries, with backoff
// and jitter, until it is acknowledged or finalReportWindow has passed
// (stopReportWindow once ctx has ended).
func (a *agent) report(ctx context.Context, r *run, p messages.Progress) {
	data, err := messages.Encode(&p)
	if err != nil {
		r.log.Error().Err(err).Msg("encode progress")
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalReportWindow)
	defer cancel()
	shorten := context.AfterFunc(ctx, func() { time.AfterFunc(stopReportWindow, cancel) })
	defer shorten()

	subject := a.subjects.TaskProgress(r.task.ID)
	for attempt := 1; ; attempt++ {
		actx, cancelAttempt := context.WithTimeout(rctx, reportAttemptTimeout)
		_, err := a.nc.RequestWithContext(actx, subject, data)
		cancelAttempt()
		if err == nil {
			r.log.Debug().Int("attempts", attempt).Msg("final progress acknowledged")
			return
		}
		if sleep(rctx, backoff(attempt)) != nil {
			r.log.Error().Err(err).Int("attempts", attempt).Str("event", "report_lost").
				Msg("final progress not acknowledged")
			return
		}
	}
}

// backoff is the wait before attempt+1: doubling from reportBackoffMin up
// to reportBackoffMax, with half of it random.
func backoff(attempt int) time.Duration {
	d := reportBackoffMin << min(attempt-1, 8)
	d = min(d, reportBackoffMax)
	return d/2 + rand.N(d/2+1)
}
