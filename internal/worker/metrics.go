package worker

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Frame outcomes, the values of sf_worker_frames_total's outcome label.
const (
	outcomeOK = "ok"
	// outcomeError is a frame answered with an error reply (bad frame,
	// backend error), overload refusals excepted.
	outcomeError = "error"
	// outcomeOverloaded is a frame refused at once because every slot and
	// queue place was taken.
	outcomeOverloaded = "overloaded"
	// outcomeNoReply is a frame published without a reply subject, such as a
	// recording's copy: nobody waits for it, so it is not inferred.
	outcomeNoReply = "no_reply"
	// outcomeStale is a frame that waited longer than MaxFrameAge for a
	// slot: its agent has given up on it and sent a newer one (C11).
	outcomeStale = "stale"
)

// metrics are the worker's Prometheus series. gpu is a constant label: one
// worker serves one device.
type metrics struct {
	infer    *prometheus.HistogramVec
	queue    *prometheus.HistogramVec
	frames   *prometheus.CounterVec
	errors   *prometheus.CounterVec
	ready    *prometheus.GaugeVec
	inFlight prometheus.Gauge
	slow     prometheus.Counter
	batch    *prometheus.HistogramVec
	splits   *prometheus.CounterVec
	paused   *prometheus.CounterVec
	byRef    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, gpu string, models []string) (*metrics, error) {
	gl := prometheus.Labels{"gpu": gpu}
	m := &metrics{
		infer: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sf_worker_infer_seconds", Help: "Backend time of successful inference calls.",
			ConstLabels: gl,
			// 1 ms (a GPU model) to 16 s (CPU OCR past the default timeout).
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"model"}),
		queue: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sf_worker_queue_seconds", Help: "Time a frame waited in the worker for a slot.",
			ConstLabels: gl,
			// 0.1 ms (an idle worker) to about 3 s (a full queue).
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 15),
		}, []string{"model"}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sf_worker_frames_total", Help: "Frames received, by outcome.", ConstLabels: gl,
		}, []string{"model", "outcome"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sf_worker_errors_total", Help: "Error replies, by wire error code.", ConstLabels: gl,
		}, []string{"model", "code"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sf_worker_backend_ready", Help: "1 when the backend reported the model ready at the last poll.",
			ConstLabels: gl,
		}, []string{"model"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sf_worker_in_flight", Help: "Backend calls in progress.", ConstLabels: gl,
		}),
		slow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sf_worker_slow_consumer_total", ConstLabels: gl,
			Help: "Slow-consumer events: the NATS client dropped frames because its pending buffer was full.",
		}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sf_worker_batch_size", Help: "Frames per successful backend call.", ConstLabels: gl,
			// Powers of two up to Triton's usual max_batch_size of 64.
			Buckets: prometheus.ExponentialBuckets(1, 2, 7),
		}, []string{"model"}),
		splits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sf_worker_batch_splits_total", ConstLabels: gl,
			Help: "Batches the backend rejected as invalid, retried frame by frame.",
		}, []string{"model"}),
		paused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sf_worker_full_total", ConstLabels: gl,
			Help: "Times the worker was full and left the queue group until it had room.",
		}, []string{"model"}),
		byRef: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sf_worker_frames_by_reference_total", ConstLabels: gl,
			Help: "Frames whose data was over the NATS max_payload and was fetched from the object store.",
		}, []string{"model"}),
	}
	for _, c := range []prometheus.Collector{m.infer, m.queue, m.frames, m.errors, m.ready, m.inFlight, m.slow,
		m.batch, m.splits, m.paused, m.byRef} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register worker metrics: %w", err)
		}
	}
	m.init(models)
	return m, nil
}

// init creates the series every dashboard expects, at zero.
func (m *metrics) init(models []string) {
	for _, model := range models {
		for _, o := range []string{outcomeOK, outcomeError, outcomeOverloaded, outcomeStale} {
			m.frames.WithLabelValues(model, o)
		}
		m.ready.WithLabelValues(model).Set(0)
	}
}

func (m *metrics) countError(model string, code messages.Code) {
	m.errors.WithLabelValues(model, strconv.Itoa(int(code))).Inc()
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
