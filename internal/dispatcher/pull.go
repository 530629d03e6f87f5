package dispatcher

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// pullFailureBackoff is the pause after a failed pull or consumer check, so
// that a missing stream or an unreachable server is not hammered.
const pullFailureBackoff = time.Second

// pullLoop takes one task whenever a sandbox slot is free, until ctx ends.
// Tasks run under taskCtx, which outlives ctx during shutdown.
func (d *Dispatcher) pullLoop(ctx, taskCtx context.Context) {
	defer close(d.loopDone)
	lastCheck := time.Now()
	failing := false
	var watch stallWatch
	for {
		select {
		case d.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		msg, err := d.pullOne(ctx)
		if msg != nil {
			d.unstall(&watch)
			d.tasks.Add(1)
			go func() {
				defer d.tasks.Done()
				defer func() { <-d.slots }()
				d.handle(taskCtx, msg)
			}()
			continue
		}
		<-d.slots
		if ctx.Err() != nil {
			return
		}
		if err == nil && time.Since(lastCheck) < consumerCheckEvery {
			continue
		}
		lastCheck = time.Now()
		failing = d.recover(ctx, err, failing, &watch)
	}
}

// recover checks the consumer after a failed or idle pull and recreates it
// if it is gone. It logs a failure once when pulling starts to fail and once
// when it recovers, and reports whether pulling is failing now.
func (d *Dispatcher) recover(ctx context.Context, pullErr error, failing bool, w *stallWatch) bool {
	checkErr := d.checkConsumer(ctx, w)
	switch {
	case checkErr == nil && failing:
		d.log.Info().Str("event", "pull_recovered").Msg("pulling tasks again")
	case checkErr != nil && !failing:
		d.log.Error().Str("event", "pull_failing").AnErr("pull", pullErr).Err(checkErr).Msg("cannot pull tasks")
	}
	if checkErr != nil || pullErr != nil {
		sleepCtx(ctx, pullFailureBackoff)
	}
	return checkErr != nil
}

// pullOne asks for one task and waits at most PullWait for it. When ctx ends
// first, it still waits for the pull to end, handing back at once a task
// that arrives: abandoning the pull would lose such a task until AckWait.
func (d *Dispatcher) pullOne(ctx context.Context) (jetstream.Msg, error) {
	batch, err := d.cons.get().Fetch(1, jetstream.FetchMaxWait(d.cfg.PullWait))
	if err != nil {
		return nil, err
	}
	select {
	case msg, ok := <-batch.Messages():
		if !ok {
			return nil, batch.Error()
		}
		return msg, nil
	case <-ctx.Done():
		for msg := range batch.Messages() {
			_ = msg.Nak()
		}
		return nil, ctx.Err()
	}
}
