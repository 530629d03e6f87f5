package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// DeadStream is the stream that keeps dead letters: tasks that could not be
// parsed or validated, with the reason.
const DeadStream = "TASKS_DEAD"

const (
	// dupWindow is the stream's dedup window on Nats-Msg-Id. A resubmission
	// inside it is dropped by the server; after it, the finished state in
	// the task bucket makes the dispatcher skip the task.
	dupWindow = 10 * time.Minute

	// deadMaxAge keeps dead letters a week, long enough to be looked at
	// after a weekend.
	deadMaxAge = 7 * 24 * time.Hour

	// fleetAckPending is the consumer's MaxAckPending. Every dispatcher
	// shares the consumer, so this bounds the tasks in flight across the
	// whole fleet, not per dispatcher; back-pressure comes from pulling
	// only with a free slot. The server's default (1000) is kept so that
	// dispatchers with different slot counts reconcile to one value.
	fleetAckPending = 1000

	// consumerCheckEvery is how often an idle pull loop confirms that its
	// consumer still exists, since a pull on a deleted consumer may just
	// time out (C17).
	consumerCheckEvery = 5 * time.Second
)

func (d *Dispatcher) streamConfigs() (tasks, dead jetstream.StreamConfig) {
	tasks = jetstream.StreamConfig{
		Name:        messages.TasksStream,
		Description: "screenfleet tasks waiting for a dispatcher",
		Subjects:    []string{d.subj.TaskSubmit()},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  dupWindow,
		// The stream takes anything the server does, so that a task over
		// messages.MaxTaskBytes sent with a plain publish (no ack to carry
		// the stream's refusal) reaches a dispatcher and is dead-lettered
		// with its size rather than vanishing.
		MaxMsgSize: -1,
		Replicas:   d.cfg.Replicas,
	}
	dead = jetstream.StreamConfig{
		Name:        DeadStream,
		Description: "screenfleet tasks that could not be parsed (messages.DeadLetter)",
		Subjects:    []string{d.subj.TaskDead()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      deadMaxAge,
		Duplicates:  dupWindow,
		Replicas:    d.cfg.Replicas,
	}
	return tasks, dead
}

// ensureStreams creates both streams or brings their settings up to date.
func (d *Dispatcher) ensureStreams(ctx context.Context) error {
	tasks, dead := d.streamConfigs()
	for _, cfg := range []jetstream.StreamConfig{tasks, dead} {
		if _, err := d.js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("dispatcher: stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

func (d *Dispatcher) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       messages.TasksConsumer,
		Description:   "screenfleet dispatchers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       d.cfg.AckWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// A task retries its sandboxes within one delivery; redeliveries
		// come from dispatchers that stopped or died. Two spare deliveries
		// let a task survive that, and a task that keeps killing its
		// dispatcher still ends.
		MaxDeliver:    d.cfg.MaxAttempts + 2,
		MaxAckPending: max(fleetAckPending, d.cfg.MaxSandboxes),
	}
}

// ensureConsumer creates the durable consumer or updates its settings, and
// logs what changed. why says what prompted it, for the log.
func (d *Dispatcher) ensureConsumer(ctx context.Context, why string) error {
	want := d.consumerConfig()
	var before *jetstream.ConsumerConfig
	if c, err := d.js.Consumer(ctx, messages.TasksStream, want.Durable); err == nil {
		before = &c.CachedInfo().Config
	}
	c, err := d.js.CreateOrUpdateConsumer(ctx, messages.TasksStream, want)
	if err != nil {
		return fmt.Errorf("dispatcher: consumer %s: %w", want.Durable, err)
	}
	d.cons.set(c)

	ev := d.log.Info().Str("consumer", want.Durable).Str("reason", why)
	switch got := c.CachedInfo().Config; {
	case before == nil:
		ev.Str("event", "consumer_created").Msg("consumer created")
	case before.AckWait != got.AckWait || before.MaxDeliver != got.MaxDeliver ||
		before.MaxAckPending != got.MaxAckPending:
		ev.Str("event", "consumer_updated").Dur("ack_wait_was", before.AckWait).Dur("ack_wait", got.AckWait).
			Int("max_deliver_was", before.MaxDeliver).Int("max_deliver", got.MaxDeliver).
			Int("max_ack_pending_was", before.MaxAckPending).Int("max_ack_pending", got.MaxAckPending).
			Msg("consumer settings reconciled")
	default:
		ev.Str("event", "consumer_ready").Msg("consumer settings already current")
	}
	return nil
}

// checkConsumer makes sure the stream and consumer still exist, and
// recreates them if not (C17). It returns nil when they exist afterwards.
// When they exist, their counts go to the stall watchdog w.
func (d *Dispatcher) checkConsumer(ctx context.Context, w *stallWatch) error {
	c, err := d.js.Consumer(ctx, messages.TasksStream, messages.TasksConsumer)
	if err == nil {
		d.observeConsumer(ctx, w, c.CachedInfo())
		return nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("dispatcher: look up consumer: %w", err)
	}
	d.log.Warn().Str("event", "consumer_lost").Err(err).Msg("task consumer is gone; recreating it")
	if err := d.ensureStreams(ctx); err != nil {
		return err
	}
	return d.ensureConsumer(ctx, "recreate")
}

// consumerRef holds the current consumer handle; it is replaced when the
// consumer is recreated.
type consumerRef struct {
	mu sync.Mutex
	c  jetstream.Consumer
}

func (r *consumerRef) set(c jetstream.Consumer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.c = c
}

func (r *consumerRef) get() jetstream.Consumer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c
}
