package worker

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/screenfleet/screenfleet/internal/telemetry"
	"github.com/screenfleet/screenfleet/internal/yolo"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Defaults for the fields of Config left zero.
const (
	// GPUPlaceholder in BackendAddr is replaced by the worker's GPU.
	GPUPlaceholder = "{gpu}"
	// DefaultBackendAddr is Triton's gRPC port on the local host, where
	// inferd listens too.
	DefaultBackendAddr = "127.0.0.1:8001"
	// DefaultGPU names a worker whose backend runs on the CPU.
	DefaultGPU = "cpu"
	// DefaultRequestTimeout bounds one backend call: a CPU OCR pass on a
	// full-HD frame takes about a second, so ten is a backend in trouble.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultReadyInterval is how often the backend's readiness is polled: a
	// model that unloads stops receiving frames within about a second (C11).
	DefaultReadyInterval = time.Second
	// DefaultMaxBatch is the most frames one backend call carries, unless
	// the model's max_batch_size is smaller: 8 frames of a busy full-HD
	// screen stay well inside the gRPC message limit.
	DefaultMaxBatch = 8
	// DefaultMaxWait is how long a frame may wait for companions when a call
	// slot is free: about a tenth of a GPU detector's latency, like the
	// max_queue_delay people give Triton's own batcher.
	DefaultMaxWait = 2 * time.Millisecond
	// DefaultMaxFrameAge is how long a frame may wait in the worker before
	// it is dropped: the agent's own request timeout (5 s), after which it
	// has given up on the frame and sent a newer one (C11: newest wins).
	DefaultMaxFrameAge = 5 * time.Second
	// DefaultHTTPAddr is where cmd/worker serves metrics and health.
	DefaultHTTPAddr = "127.0.0.1:9103"
)

// Config configures a worker. Zero fields take the defaults above.
type Config struct {
	// NATSURL is the server to connect to when Conn is nil.
	NATSURL string
	// NATSOptions are extra dial options (TLS from natsconn), used when
	// Conn is nil.
	NATSOptions []nats.Option
	// Conn is a connection to use instead of dialling NATSURL. The worker
	// does not close it, and chains its error handler in front of Conn's.
	Conn *nats.Conn
	// SubjectPrefix is the subject prefix ("sf" when empty).
	SubjectPrefix string
	// Models are the models this worker serves (["ocr"] when empty).
	Models []string
	// BackendAddr is the KServe v2 gRPC address Run dials. "{gpu}" in it
	// stands for GPU, so one setting names every GPU's Triton endpoint
	// (e.g. "triton-gpu{gpu}:8001" or "127.0.0.1:80{gpu}1").
	BackendAddr string
	// GPU identifies the device behind the backend: "cpu", an index such as
	// "0", or a device UUID. It labels replies, logs and metrics.
	GPU string
	// ID names this worker in replies and logs (host-gpu-pid when empty).
	ID string
	// MaxInFlight caps concurrent backend calls (2 x NumCPU when zero).
	MaxInFlight int
	// MaxQueued caps each model's frames waiting for a batch, beyond the
	// full batches in flight (the larger of 4 x MaxInFlight and 2 x MaxBatch
	// when zero); frames beyond it are refused at once so the agent retries
	// on another worker.
	MaxQueued int
	// MaxBatch caps the frames of one backend call (DefaultMaxBatch when
	// zero; 1 turns batching off). A model's smaller max_batch_size wins.
	MaxBatch int
	// MaxWait is how long the first frame of a batch may wait for more
	// while another batch is in the backend (DefaultMaxWait when zero;
	// negative: never wait, batch what is queued).
	MaxWait time.Duration
	// Adapters picks each model's adapter (AdapterAuto when absent).
	Adapters map[string]string
	// Labels names each YOLO model's labels file, one class per line; a
	// model without one must publish a "labels" parameter in its config.
	Labels map[string]string
	// FullFrames sends every frame of a boxes model whole to the backend.
	// By default a boxes model's frames go through a region cache: per
	// sandbox, only the bands whose pixels changed since the last frame are
	// recognised, and the text found elsewhere is reused.
	FullFrames bool
	// YOLO tunes YOLOv8 decoding (thresholds, NMS mode).
	YOLO yolo.Options
	// MaxFrameAge drops frames that waited longer than this in the worker
	// for a backend call, with a retryable error reply (DefaultMaxFrameAge
	// when zero).
	MaxFrameAge time.Duration
	// RequestTimeout bounds one backend call, and one readiness probe.
	RequestTimeout time.Duration
	// ReadyInterval is how often backend readiness is polled.
	ReadyInterval time.Duration
	// HTTPAddr serves /metrics, /healthz and /readyz; empty serves nothing.
	HTTPAddr string
	// Registry receives the worker's metrics (when nil, a new one that also
	// holds the Go runtime and process collectors).
	Registry *prometheus.Registry
}

// withDefaults returns c with zero fields filled, or the first invalid field.
func (c Config) withDefaults() (Config, error) {
	if c.Conn == nil && c.NATSURL == "" {
		c.NATSURL = nats.DefaultURL
	}
	if len(c.Models) == 0 {
		c.Models = []string{messages.DefaultModel}
	}
	if c.BackendAddr == "" {
		c.BackendAddr = DefaultBackendAddr
	}
	if c.GPU == "" {
		c.GPU = DefaultGPU
	}
	c.BackendAddr = strings.ReplaceAll(c.BackendAddr, GPUPlaceholder, c.GPU)
	if c.ID == "" {
		c.ID = defaultID(c.GPU)
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 2 * runtime.NumCPU()
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.MaxQueued == 0 {
		// A queued frame waits for at most four calls ahead of it: 1.2 s
		// with a 300 ms model, inside an agent's request deadline, while a
		// burst of five frames per slot is absorbed instead of refused (C15);
		// and two full batches can always form.
		c.MaxQueued = max(4*c.MaxInFlight, 2*c.MaxBatch)
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.ReadyInterval == 0 {
		c.ReadyInterval = DefaultReadyInterval
	}
	if c.MaxFrameAge == 0 {
		c.MaxFrameAge = DefaultMaxFrameAge
	}
	if c.Registry == nil {
		c.Registry = telemetry.NewRegistry()
	}
	return c, c.validate()
}

func (c Config) validate() error {
	seen := make(map[string]bool, len(c.Models))
	for _, m := range c.Models {
		if err := messages.CheckToken("model", m); err != nil {
			return fmt.Errorf("worker config: %w", err)
		}
		if seen[m] {
			return fmt.Errorf("worker config: model %q listed twice", m)
		}
		seen[m] = true
	}
	switch {
	case strings.ContainsAny(c.GPU, " \t\r\n") || len(c.GPU) > 128:
		return errors.New("worker config: gpu must be an index or a device UUID")
	case c.MaxInFlight < 0 || c.MaxQueued < 0 || c.MaxBatch < 0:
		return errors.New("worker config: max in flight, max queued and max batch must be positive")
	case c.RequestTimeout < 0 || c.ReadyInterval < 0 || c.MaxFrameAge < 0:
		return errors.New("worker config: request timeout, ready interval and max frame age must be positive")
	}
	for model, kind := range c.Adapters {
		if kind != AdapterAuto && kind != AdapterBoxes && kind != AdapterYOLO {
			return fmt.Errorf("worker config: model %q: adapter %q, want auto, boxes or yolo", model, kind)
		}
	}
	return nil
}

func defaultID(gpu string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	return fmt.Sprintf("%s-%s-%d", host, gpu, os.Getpid())
}
