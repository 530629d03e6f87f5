// Package dispatcher consumes tasks from the JetStream stream TASKS, runs
// each in a fresh sandbox, and records every state change of the task in
// the KV bucket sf_tasks with revision-checked writes.
//
// A dispatcher pulls a task only when it has a free sandbox slot, so the
// pull is the back-pressure and any number of dispatchers can share the
// durable consumer. A task's message is acknowledged only after its final
// state is written; on shutdown the tasks in flight are handed back (nak)
// for another dispatcher to continue.
package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/framestore"
	"github.com/screenfleet/screenfleet/internal/natsconn"
	"github.com/screenfleet/screenfleet/internal/recording"
	"github.com/screenfleet/screenfleet/internal/taskstore"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// shutdownTimeout bounds Run's shutdown: stopping sandboxes (SIGTERM grace
// included) and handing tasks back takes a few seconds; a stuck one must
// not keep the process from exiting.
const shutdownTimeout = 30 * time.Second

// Dispatcher runs tasks. Build one with New, then Start it.
type Dispatcher struct {
	cfg     Config
	log     zerolog.Logger
	subj    messages.Subjects
	metrics *metrics
	fleet   *fleet
	listSub *nats.Subscription

	nc      *nats.Conn
	ownConn bool
	js      jetstream.JetStream
	store   *taskstore.Store
	rec     *recording.Service
	cons    consumerRef

	slots      chan struct{}
	stopPull   context.CancelFunc // ends the pull loop
	stopTasks  context.CancelFunc // ends the tasks in flight, after the pull loop
	unwatchCtx func() bool
	loopDone   chan struct{}
	tasks      sync.WaitGroup
	done       chan struct{}

	httpSrv  *http.Server
	httpAddr net.Addr

	stopOnce sync.Once
	stopErr  error
}

// New checks cfg, fills its defaults and returns a dispatcher that is not
// yet connected.
func New(cfg Config, log zerolog.Logger) (*Dispatcher, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	fl := newFleet(runtimeName(cfg.Runtime))
	d := &Dispatcher{
		cfg:      cfg,
		log:      log.With().Str("dispatcher", cfg.ID).Logger(),
		subj:     messages.NewSubjects(cfg.SubjectPrefix),
		metrics:  newMetrics(fl.runtime, cfg.MaxSandboxes),
		fleet:    fl,
		slots:    make(chan struct{}, cfg.MaxSandboxes),
		loopDone: make(chan struct{}),
		done:     make(chan struct{}),
	}
	d.metrics.reg.MustRegister(newLiveCollector(d))
	return d, nil
}

// ID returns the dispatcher's id.
func (d *Dispatcher) ID() string { return d.cfg.ID }

// Start connects, makes sure the streams, the consumer and the task bucket
// exist, starts the HTTP endpoints and begins pulling tasks. The dispatcher
// runs until ctx ends or Stop is called; either begins the shutdown that
// Stop describes, and Done is closed when it has finished.
func (d *Dispatcher) Start(ctx context.Context) error {
	if err := d.connect(); err != nil {
		return err
	}
	if err := d.setup(ctx); err != nil {
		d.closeConn()
		return err
	}
	if err := d.serveSandboxList(); err != nil {
		d.closeConn()
		return err
	}
	if err := d.serveHTTP(); err != nil {
		d.closeConn()
		return err
	}
	pullCtx, stopPull := context.WithCancel(ctx)
	taskCtx, stopTasks := context.WithCancel(context.WithoutCancel(ctx))
	d.stopPull, d.stopTasks = stopPull, stopTasks
	d.unwatchCtx = context.AfterFunc(ctx, func() { d.beginStop() })
	go d.pullLoop(pullCtx, taskCtx)
	d.log.Info().Str("event", "dispatcher_started").Int("max_sandboxes", d.cfg.MaxSandboxes).
		Int("max_attempts", d.cfg.MaxAttempts).Str("subject", d.subj.TaskSubmit()).Msg("dispatcher started")
	return nil
}

func (d *Dispatcher) connect() error {
	if d.cfg.Conn != nil {
		d.nc = d.cfg.Conn
		if d.cfg.NATSURL == "" {
			d.cfg.NATSURL = d.nc.ConnectedUrl()
		}
		if d.cfg.NATSURL == "" {
			// An in-process connection has no URL to hand to the agents.
			return errors.New("dispatcher: config: NATSURL is required for the sandboxes' agents")
		}
	} else {
		opts := []nats.Option{nats.Name("sf-dispatcher-" + d.cfg.ID),
			nats.MaxReconnects(-1), // a dispatcher outlives server restarts
		}
		nc, err := nats.Connect(d.cfg.NATSURL, append(opts, d.cfg.NATSOptions...)...)
		if err != nil {
			return fmt.Errorf("dispatcher: connect %s: %w", natsconn.Redact(d.cfg.NATSURL), err)
		}
		d.nc, d.ownConn = nc, true
	}
	js, err := jetstream.New(d.nc)
	if err != nil {
		d.closeConn()
		return fmt.Errorf("dispatcher: jetstream: %w", err)
	}
	d.js = js
	return nil
}

// makeStreams creates, or updates, the streams, the consumer, the task
// bucket and the recording streams.
func (d *Dispatcher) makeStreams(ctx context.Context) error {
	if err := d.ensureStreams(ctx); err != nil {
		return err
	}
	if err := d.ensureConsumer(ctx, "start"); err != nil {
		return err
	}
	store, err := taskstore.Open(ctx, d.js, d.cfg.Replicas)
	if err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	d.store = store
	// Agents put frames over the server's max_payload here, workers read
	// them (C14); made here with the fleet's replicas so neither needs the
	// right to create buckets.
	if err := framestore.Ensure(ctx, d.js, d.cfg.Replicas); err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	if d.rec, err = recording.Start(ctx, d.js, d.subj, d.cfg.Recording, d.log); err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	return nil
}

// Stop stops pulling, then stops the sandboxes of the tasks in flight and
// hands their messages back so that another dispatcher continues them, and
// closes what Start opened. The shutdown is bounded (30 s) whoever starts
// it; ctx bounds only the caller's wait. Stop is idempotent and safe to
// call concurrently.
func (d *Dispatcher) Stop(ctx context.Context) error {
	d.beginStop()
	select {
	case <-d.done:
		return d.stopErr
	case <-ctx.Done():
		return fmt.Errorf("dispatcher: shutdown not finished: %w", ctx.Err())
	}
}

func (d *Dispatcher) beginStop() {
	d.stopOnce.Do(func() {
		go func() {
			d.stopErr = d.shutdown()
			close(d.done)
		}()
	})
}

// shutdown ends the pull loop before the tasks: a pull still outstanding
// when a task is handed back could be handed that same task, by a loop
// that is no longer there to run it.
func (d *Dispatcher) shutdown() error {
	if d.stopPull == nil {
		return nil // never started
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	d.unwatchCtx()
	d.stopPull()
	loopEnded := waitCtx(ctx, d.loopDone)
	d.stopTasks()
	var err error
	if !loopEnded || !waitCtx(ctx, waitGroupDone(&d.tasks)) {
		err = fmt.Errorf("dispatcher: shutdown: tasks still stopping after %s", shutdownTimeout)
	}
	if d.httpSrv != nil {
		_ = d.httpSrv.Shutdown(ctx)
	}
	_ = d.listSub.Unsubscribe()
	d.rec.Stop()
	_ = d.nc.FlushTimeout(2 * time.Second) // deliver the naks before closing
	d.closeConn()
	d.log.Info().Str("event", "dispatcher_stopped").Dur("elapsed",
		time.Since(began)).Err(err).Msg("dispatcher stopped")
	return err
}

func (d *Dispatcher) closeConn() {
	if d.ownConn {
		d.nc.Close()
	}
}

// Done is closed once Stop has finished.
func (d *Dispatcher) Done() <-chan struct{} { return d.done }

// Run starts a dispatcher and runs it until ctx ends, then shuts it down
// within a bounded time. A cancelled ctx is a normal end, not an error.
func Run(ctx context.Context, cfg Config, log zerolog.Logger) error {
	d, err := New(cfg, log)
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return d.Stop(context.WithoutCancel(ctx))
}

// waitCtx waits for ch to close, and reports false if ctx ended first.
func waitCtx(ctx context.Context, ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

func waitGroupDone(wg *sync.WaitGroup) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		wg.Wait()
		close(ch)
	}()
	return ch
}

// sleepCtx waits for d, and reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
