// Package worker is screenfleet's inference worker: it answers the frames
// agents send on sf.infer.<model>.<sandbox> with detections from one KServe v2
// backend (Triton on a GPU, or inferd on the CPU), the GPU it is bound to.
//
// A worker joins one queue group per model, but only while the backend says
// that model is ready: it subscribes (and flushes, so the server knows) once
// the backend is ready, and drains its subscription when the backend stops
// being ready, so agents get "no responders" at once instead of timeouts
// (field cases C11 and C15).
//
// Frames are batched dynamically: each model's frames queue, and a batch
// takes what is queued up to MaxBatch (or the model's max_batch_size),
// waiting up to MaxWait for more while another batch keeps the backend busy;
// one ModelInfer call serves the batch and each frame's reply goes to its
// own requester. At most MaxInFlight calls run at a time. A worker that
// holds as many frames as its calls and queue take refuses the next with
// CodeBackendNotReady (the agent retries elsewhere) and leaves the queue
// group until half its room is free, so NATS routes frames to workers with
// room. Every frame that asked for a reply gets one: detections or an error
// with a wire code.
//
// A model's adapter turns frames into the backend's tensors and back: boxes
// models take encoded images, YOLOv8 models take letterboxed FP32 tensors
// (package yolo). The worker registers as the NATS service sf-worker.
package worker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/framestore"
	"github.com/screenfleet/screenfleet/internal/kserve"
	"github.com/screenfleet/screenfleet/internal/regions"
	"github.com/screenfleet/screenfleet/internal/telemetry"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Backend is the inference server a worker calls. *kserve.Client is one.
type Backend interface {
	// Ready returns nil when the server and the model are ready.
	Ready(ctx context.Context, model string) error
	// InferBoxes returns one box list per encoded image, in order. Errors
	// carry a gRPC status.
	InferBoxes(ctx context.Context, model string, images [][]byte) ([][]messages.Box, error)
}

// Worker serves frames for its models until Stop.
type Worker struct {
	cfg      Config
	backend  Backend
	regions  *regions.Cache // nil with Config.FullFrames
	nc       *nats.Conn
	ownConn  bool
	frames   *framestore.Store // data of frames sent by reference (C14)
	subjects messages.Subjects
	log      zerolog.Logger
	metrics  *metrics

	slots     chan struct{} // one per backend call in progress: MaxInFlight
	inFlight  atomic.Int64  // frames in backend calls
	pool      sync.WaitGroup
	jobCtx    context.Context // parent of backend calls; cancelled only to abort a stop
	abortJobs context.CancelFunc

	stopWatch context.CancelFunc
	watchDone chan struct{}
	wake      chan struct{} // asks the watcher to poll now: a model has room again

	mu       sync.Mutex
	models   []*model // in cfg.Models order
	draining []<-chan nats.SubStatus
	closed   bool          // the job queues are closed: callbacks refuse frames
	changed  chan struct{} // closed and replaced when a subscription comes or goes

	telemetry *telemetry.Server
	service   micro.Service
	gpu       *gpuMetrics // nil without NVML

	stopOnce sync.Once
	stopErr  error
}

// model is the serving state of one model. sub, held and paused are guarded by
// Worker.mu; ad is read by batches and set by the watcher; the other fields
// belong to the watcher goroutine.
type model struct {
	name      string
	jobs      chan job // frames waiting for a batch
	held      int      // frames received and not yet answered, at most cap(jobs)
	paused    bool     // full: out of the queue group until half the room is free
	ad        atomic.Pointer[adapterRef]
	limit     atomic.Int64 // a smaller batch cap learnt from rejections; 0 for none
	stats     *modelStats
	sub       *nats.Subscription
	closed    <-chan nats.SubStatus // closes when sub has drained
	direct    *nats.Subscription    // frames addressed to this worker by name, beside the group
	polled    bool                  // the backend has been asked at least once
	subFailed bool                  // the last subscribe attempt failed (logged once)
	downSince time.Time             // when the backend was last seen to stop being ready
}

// adapterRef holds an adapter for atomic.Pointer.
type adapterRef struct{ adapter }

// adapterOr returns m's adapter, or def before one was picked.
func (m *model) adapterOr(def adapter) adapter {
	if r := m.ad.Load(); r != nil {
		return r.adapter
	}
	return def
}

// batchSize is the most frames one call for m may carry.
func (m *model) batchSize(def int) int {
	if r := m.ad.Load(); r != nil {
		def = r.maxBatch()
	}
	if l := int(m.limit.Load()); l > 0 && l < def {
		return l
	}
	return def
}

// Run serves frames with a backend dialled at cfg.BackendAddr until ctx is
// cancelled, then drains: frames already received are answered before it
// returns. Cancellation is a normal stop and returns nil.
func Run(ctx context.Context, cfg Config, log zerolog.Logger) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	backend, err := kserve.Dial(ctx, cfg.BackendAddr)
	if err != nil {
		return fmt.Errorf("worker backend: %w", err)
	}
	defer backend.Close()

	w, err := Start(ctx, cfg, backend, log)
	if err != nil {
		return err
	}
	<-ctx.Done()

	// Two call times let the frames in flight and the next wave finish
	// against a healthy backend; past that, Stop cancels the calls, which
	// answers every frame held at once with a retryable error.
	grace := 2*cfg.RequestTimeout + 5*time.Second
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	return w.Stop(stopCtx)
}

// Start connects to NATS (unless cfg.Conn is set), serves HTTP when
// cfg.HTTPAddr is set, and starts watching the backend; the worker subscribes
// once the backend is ready. ctx bounds start-up only: call Stop to stop.
func Start(ctx context.Context, cfg Config, backend Backend, log zerolog.Logger) (*Worker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	w := newWorker(cfg, backend, log)
	if w.metrics, err = newMetrics(cfg.Registry, cfg.GPU, cfg.Models); err != nil {
		return nil, err
	}
	if err := w.connect(); err != nil {
		return nil, err
	}
	if err := w.register(); err != nil {
		w.closeConn()
		return nil, err
	}
	if err := w.serveHTTP(); err != nil {
		w.unregister()
		w.closeConn()
		return nil, err
	}
	w.watchGPU()
	w.startBatchers(ctx)
	w.startWatch(ctx)
	w.log.Info().Str("event", "worker_started").Strs("models", cfg.Models).
		Int("max_in_flight", cfg.MaxInFlight).Int("max_batch", cfg.MaxBatch).Dur("max_wait", cfg.MaxWait).
		Msg("worker started")
	return w, nil
}

func newWorker(cfg Config, backend Backend, log zerolog.Logger) *Worker {
	w := &Worker{
		cfg:      cfg,
		backend:  backend,
		subjects: messages.NewSubjects(cfg.SubjectPrefix),
		log:      log.With().Str("worker", cfg.ID).Str("gpu", cfg.GPU).Logger(),
		changed:  make(chan struct{}),
		wake:     make(chan struct{}, 1),
	}
	if !cfg.FullFrames {
		w.regions = regions.New(0)
	}
	for _, name := range cfg.Models {
		w.models = append(w.models, &model{name: name, stats: newModelStats(),
			// Room for every frame the model may hold: full batches in
			// every slot plus the queue.
			jobs: make(chan job, cfg.MaxQueued+cfg.MaxInFlight*cfg.MaxBatch)})
	}
	return w
}

// Stop stops taking frames, answers every frame already received, and
// releases what Start acquired. When ctx ends first, calls in progress are
// cancelled (their frames get error replies) and Stop returns ctx's error.
// Stop may be called more than once; later calls return the first result.
func (w *Worker) Stop(ctx context.Context) error {
	w.stopOnce.Do(func() { w.stopErr = w.stop(ctx) })
	return w.stopErr
}

func (w *Worker) stop(ctx context.Context) error {
	start := time.Now()
	w.stopWatch()
	<-w.watchDone
	w.unregister()
	w.log.Info().Str("event", "worker_draining").Msg("worker draining")

	err := w.drainAll(ctx)
	if err != nil {
		w.abortJobs()
	}
	w.pool.Wait()
	w.abortJobs()
	if ferr := w.flush(ctx); err == nil {
		err = ferr
	}
	w.closeConn()
	w.gpu.close()
	if herr := w.telemetry.Close(ctx); herr != nil {
		w.log.Warn().Err(herr).Msg("close http server")
	}

	ev := w.log.Info()
	if err != nil {
		ev = w.log.Warn().Err(err)
	}
	ev.Str("event", "worker_stopped").Dur("elapsed", time.Since(start)).Msg("worker stopped")
	return err
}

// flush makes sure the last replies have left, unless the connection is
// already gone.
func (w *Worker) flush(ctx context.Context) error {
	if w.nc.IsClosed() {
		return nil
	}
	// The client insists on a deadline; a Stop without one still ends.
	ctx, cancel := context.WithTimeout(ctx, w.cfg.RequestTimeout)
	defer cancel()
	if err := w.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("flush replies: %w", err)
	}
	return nil
}

// drainAll drains every subscription, waits until they have handed over
// their frames, and closes the job queue so the pool finishes what it holds.
func (w *Worker) drainAll(ctx context.Context) error {
	w.mu.Lock()
	for _, m := range w.models {
		w.unsubscribeLocked(m)
	}
	pending := w.draining
	w.mu.Unlock()
	if w.nc.IsClosed() {
		// The client closed the subscriptions with the connection, without
		// the event drained ones raise: there is nothing left to wait for.
		pending = nil
	}

	var err error
	for _, ch := range pending {
		select {
		case <-ch:
		case <-ctx.Done():
			err = fmt.Errorf("drain subscriptions: %w", ctx.Err())
		}
		if err != nil {
			break
		}
	}
	w.mu.Lock()
	w.closed = true
	for _, m := range w.models {
		close(m.jobs)
	}
	w.mu.Unlock()
	return err
}

// Ready reports whether every model is subscribed: its backend was ready at
// the last poll and the server knows the subscription.
func (w *Worker) Ready() bool { return w.notReady() == nil }

// WaitReady waits until Ready reports true, or returns ctx's error.
func (w *Worker) WaitReady(ctx context.Context) error {
	for {
		w.mu.Lock()
		err, changed := w.notReadyLocked(), w.changed
		w.mu.Unlock()
		if err == nil {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("wait for worker ready: %w (%w)", ctx.Err(), err)
		}
	}
}

// notReady names the models not subscribed, or returns nil when all are.
func (w *Worker) notReady() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.notReadyLocked()
}

func (w *Worker) notReadyLocked() error {
	var down, full []string
	for _, m := range w.models {
		switch {
		case m.paused:
			full = append(full, m.name)
		case m.sub == nil:
			down = append(down, m.name)
		}
	}
	if len(down)+len(full) == 0 {
		return nil
	}
	var why []string
	if len(down) > 0 {
		why = append(why, "backend not ready for "+strings.Join(down, ", "))
	}
	if len(full) > 0 {
		why = append(why, "full for "+strings.Join(full, ", "))
	}
	return fmt.Errorf("%s: not taking frames", strings.Join(why, "; "))
}

// InFlight returns how many frames are in backend calls now.
func (w *Worker) InFlight() int { return int(w.inFlight.Load()) }
