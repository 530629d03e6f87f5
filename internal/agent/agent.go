// Package agent is the agent of one sandbox: it takes task assignments over
// NATS, launches the task's application on the sandbox's display, and runs
// the steps by capturing frames, asking the model's inference workers where
// things are, choosing targets (internal/target), and acting through XTest.
// It reports each step and the task's end as messages.Progress.
//
// An agent runs one task at a time. Run returns when its context ends, after
// stopping the running task and reporting it failed with
// messages.CodeSandboxFailed ("agent stopped").
package agent

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/framestore"
	"github.com/screenfleet/screenfleet/internal/natsconn"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// connectRetry spaces the checks for a NATS server that is not up yet.
	connectRetry = 200 * time.Millisecond
	// flushTimeout bounds one round trip that confirms a subscription.
	flushTimeout = 2 * time.Second
	// drainTimeout bounds the drain of an owned connection at shutdown; by
	// then the task has reported, so only acknowledgements are in flight.
	drainTimeout = 2 * time.Second
)

// errAgentStopped ends the running task when the agent is told to stop.
var errAgentStopped = messages.Errorf(messages.CodeSandboxFailed, "agent stopped")

// agent is one sandbox's agent while Run runs.
type agent struct {
	cfg      Config
	log      zerolog.Logger
	nc       *nats.Conn
	closed   chan struct{} // closed when an owned connection has closed; nil otherwise
	subjects messages.Subjects
	metrics  *metrics
	infer    *inferClient
	encode   frameEncoder
	ready    atomic.Bool

	mu       sync.Mutex // guards current and stopping
	current  *run
	stopping bool
	tasks    sync.WaitGroup
}

// run is one accepted assignment.
type run struct {
	task    messages.Task
	attempt int
	log     zerolog.Logger
	rec     *recorder // what the run saw and did, for replay
}

// Run runs the agent until ctx ends. It subscribes to the sandbox's
// assignment subject and logs "agent ready" once the subscription has
// reached the server. It returns nil after a clean stop, and an error when
// the configuration is invalid or the agent cannot start.
func Run(ctx context.Context, cfg Config, log zerolog.Logger) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return err
	}
	a := &agent{cfg: cfg, log: log.With().Str("sandbox", cfg.Sandbox).Logger(),
		subjects: messages.NewSubjects(cfg.SubjectPrefix), metrics: m}
	if a.encode, err = newFrameEncoder(cfg.FrameCodec); err != nil {
		return err
	}
	if err := a.connect(); err != nil {
		return err
	}
	defer a.closeConn()
	js, err := jetstream.New(a.nc)
	if err != nil {
		return fmt.Errorf("agent: jetstream: %w", err)
	}
	a.infer = &inferClient{nc: a.nc, frames: framestore.New(js), timeout: cfg.InferTimeout, metrics: a.metrics}

	httpAddr, stopHTTP, err := a.serveHTTP(ctx)
	if err != nil {
		return err
	}
	defer stopHTTP()

	sub, err := a.takeAssignments(ctx)
	if err != nil {
		return err
	}
	if a.ready.Load() {
		a.log.Info().Str("event", "agent_ready").Str("subject", sub.Subject).Str("http", httpAddr).
			Str("display", cfg.Display).Msg("agent ready")
		if cfg.OnReady != nil {
			cfg.OnReady(httpAddr)
		}
		<-ctx.Done()
	}
	a.shutdown(sub)
	return nil
}

// takeAssignments subscribes to the sandbox's assignments and waits until
// the server has the subscription (C15: ready only once flushed). It
// returns with a.ready unset when ctx ended first.
func (a *agent) takeAssignments(ctx context.Context) (*nats.Subscription, error) {
	sub, err := a.nc.Subscribe(a.subjects.Assign(a.cfg.Sandbox), func(m *nats.Msg) { a.onAssign(ctx, m) })
	if err != nil {
		return nil, fmt.Errorf("agent: subscribe: %w", err)
	}
	if err := a.flush(ctx); err == nil {
		a.ready.Store(true)
	}
	return sub, nil
}

// connect dials cfg.NATSURL unless the config brings a connection. A server
// that is not up yet is retried in the background; flush waits for it.
func (a *agent) connect() error {
	if a.cfg.Conn != nil {
		a.nc = a.cfg.Conn
		return nil
	}
	a.closed = make(chan struct{})
	log := a.log
	opts := []nats.Option{
		nats.Name("agentd " + a.cfg.Sandbox),
		nats.MaxReconnects(-1), // the agent is useless without NATS: never give up
		nats.RetryOnFailedConnect(true),
		nats.DrainTimeout(drainTimeout),
		nats.ClosedHandler(func(*nats.Conn) { close(a.closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().Err(err).Str("event", "nats_disconnected").Msg("nats disconnected")
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info().Str("event", "nats_reconnected").Str("url", c.ConnectedUrlRedacted()).Msg("nats reconnected")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn().Err(err).Msg("nats async error")
		}),
	}
	nc, err := nats.Connect(a.cfg.NATSURL, append(opts, a.cfg.NATSOptions...)...)
	if err != nil {
		return fmt.Errorf("agent: connect to %s: %w", natsconn.Redact(a.cfg.NATSURL), err)
	}
	a.nc = nc
	return nil
}

// flush waits until the server has confirmed the subscriptions, retrying
// while it cannot be reached. It fails only when ctx ends.
func (a *agent) flush(ctx context.Context) error {
	warned := false
	for {
		fctx, cancel := context.WithTimeout(ctx, flushTimeout)
		err := a.nc.FlushWithContext(fctx)
		cancel()
		if err == nil {
			return nil
		}
		if !warned {
			a.log.Warn().Err(err).Str("url", natsconn.Redact(a.cfg.NATSURL)).Msg("waiting for nats")
			warned = true
		}
		if err := sleep(ctx, connectRetry); err != nil {
			return err
		}
	}
}

// shutdown stops taking assignments, waits for the running task to stop and
// report, and drains an owned connection.
func (a *agent) shutdown(sub *nats.Subscription) {
	a.log.Info().Str("event", "agent_stopping").Msg("agent stopping")
	a.ready.Store(false)
	a.mu.Lock()
	a.stopping = true
	a.mu.Unlock()
	if err := sub.Drain(); err != nil {
		a.log.Warn().Err(err).Msg("drain assignments")
	}
	a.tasks.Wait()
	a.log.Info().Str("event", "agent_stopped").Msg("agent stopped")
}

// closeConn drains and closes a connection the agent dialled, waiting a
// bounded time for the drain to finish.
func (a *agent) closeConn() {
	if a.closed == nil {
		return
	}
	if err := a.nc.Drain(); err != nil {
		a.nc.Close()
	}
	select {
	case <-a.closed:
	case <-time.After(drainTimeout + time.Second):
		a.nc.Close()
	}
}

// onAssign answers one assignment request.
func (a *agent) onAssign(ctx context.Context, msg *nats.Msg) {
	reply := a.assign(ctx, msg.Data)
	if msg.Reply == "" {
		a.log.Warn().Msg("assignment without a reply subject")
		return
	}
	data, err := messages.Encode(&reply)
	if err == nil {
		err = msg.Respond(data)
	}
	if err != nil {
		a.log.Warn().Err(err).Msg("reply to assignment")
	}
}

// assign accepts an assignment and starts its task, or says why not.
func (a *agent) assign(ctx context.Context, data []byte) messages.AssignReply {
	as, err := decodeAssignment(data, a.cfg.Sandbox)
	if err != nil {
		return a.refuse(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch cur := a.current; {
	case a.stopping || ctx.Err() != nil:
		return a.refuse(messages.Errorf(messages.CodeSandboxFailed, "agent of sandbox %s is stopping",
			a.cfg.Sandbox))
	case cur != nil && cur.task.ID == as.Task.ID && cur.attempt == as.Attempt:
		return messages.AssignReply{V: messages.Version, Accepted: true} // a resent request
	case cur != nil:
		return a.refuse(messages.Errorf(messages.CodeSandboxFailed,
			"sandbox %s is busy with task %s", a.cfg.Sandbox, cur.task.ID))
	}

	r := &run{task: as.Task, attempt: as.Attempt,
		log: a.log.With().Str("task", as.Task.ID).Int("attempt", as.Attempt).Logger()}
	a.current = r
	a.metrics.busy.Set(1)
	r.log.Info().Str("event", "task_accepted").Int("steps", len(as.Task.Steps)).Msg("task accepted")
	a.tasks.Add(1)
	go func() {
		defer a.tasks.Done()
		a.runTask(ctx, r)
	}()
	return messages.AssignReply{V: messages.Version, Accepted: true}
}

func (a *agent) refuse(err error) messages.AssignReply {
	a.log.Info().Err(err).Str("event", "task_refused").Msg("task refused")
	return messages.AssignReply{V: messages.Version, Code: messages.CodeOf(err), Error: err.Error()}
}

// idle marks r finished so that the next assignment is taken.
func (a *agent) idle(r *run) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.current == r {
		a.current = nil
		a.metrics.busy.Set(0)
	}
}

// decodeAssignment reads and checks an assignment for sandbox.
func decodeAssignment(data []byte, sandbox string) (messages.Assignment, error) {
	var as messages.Assignment
	if err := messages.Decode(data, &as); err != nil {
		return as, messages.Errorf(messages.CodeInvalidTask, "cannot parse assignment: %v", err)
	}
	if as.Sandbox != "" && as.Sandbox != sandbox {
		return as, messages.Errorf(messages.CodeInvalidTask,
			"assignment for sandbox %s reached sandbox %s", as.Sandbox, sandbox)
	}
	if err := messages.CheckToken("task id", as.Task.ID); err != nil {
		return as, messages.Errorf(messages.CodeInvalidTask, "%v", err)
	}
	as.Task.Defaults()
	if err := as.Task.Validate(); err != nil {
		return as, err
	}
	return as, nil
}
