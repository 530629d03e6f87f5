package agent

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Stages of one perception and action, the values of the stage label. The
// worker's side of publish_to_reply (queue wait, backend inference) is in
// sf_worker_queue_seconds and sf_worker_infer_seconds.
const (
	stageCapture = "capture"
	stageEncode  = "encode"
	// stageInfer is a frame's round trip: publish, the worker, the reply
	// (decoded), retries included.
	stageInfer = "publish_to_reply"
	// stageQueue and stageRecognition are the parts of stageInfer that the
	// worker reports in its reply: the frame's wait in the worker, and the
	// backend's time on it.
	stageQueue       = "queue"
	stageRecognition = "recognition"
	// stageDecode is decoding the reply's detections.
	stageDecode = "decode"
	stageAct    = "act"
	stageSettle = "settle"
)

// Outcomes of one inference request attempt, the values of the outcome label.
const (
	inferOK           = "ok"
	inferErrorReply   = "error_reply"
	inferNoResponders = "no_responders"
	inferTimeout      = "timeout"
	inferTooLarge     = "too_large"
	inferFailed       = "failed"
)

// metrics are the agent's Prometheus series. Labels take values from small
// fixed sets only: never task, frame or sandbox ids.
type metrics struct {
	step   *prometheus.HistogramVec
	stage  *prometheus.HistogramVec
	frames prometheus.Counter
	// byReference counts frames sent with their data in the object store
	// because they were over the server's max_payload (C14).
	byReference prometheus.Counter
	infer       *prometheus.CounterVec
	tasks       *prometheus.CounterVec
	busy        prometheus.Gauge

	mu         sync.Mutex
	stepStages map[string]messages.Duration // time per stage in the current step
}

// newMetrics creates the agent's series and registers them with reg; it
// fails when reg already holds them (a registry serves one agent).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		step: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sf_agent_step_seconds", Help: "Time to run one step, by action and outcome.",
			// Steps range from a 10 ms key press to a 45 s wait for a browser.
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
		}, []string{"action", "outcome"}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sf_agent_stage_seconds", Help: "Time spent in one stage of perceiving or acting.",
			// From a 0.2 ms SHM capture to a multi-second inference with retries.
			Buckets: prometheus.ExponentialBuckets(0.0002, 3, 11),
		}, []string{"stage"}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sf_agent_frames_total", Help: "Frames sent for inference.",
		}),
		byReference: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sf_agent_frames_by_reference_total",
			Help: "Frames over the NATS max_payload sent with their data in the object store.",
		}),
		infer: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sf_agent_infer_requests_total", Help: "Inference request attempts by outcome.",
		}, []string{"outcome"}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sf_agent_tasks_total", Help: "Tasks finished, by outcome (ok, failed, stopped).",
		}, []string{"outcome"}),
		busy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sf_agent_busy", Help: "1 while the agent runs a task.",
		}),
	}
	for _, c := range []prometheus.Collector{m.step, m.stage, m.frames, m.byReference, m.infer, m.tasks,
		m.busy} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("agent: metrics: %w", err)
		}
	}
	return m, nil
}

// observe records the time since start under stage, and adds it to the
// current step's stage totals.
func (m *metrics) observe(stage string, start time.Time) {
	m.add(stage, time.Since(start))
}

// add records took under stage, and adds it to the current step's totals.
func (m *metrics) add(stage string, took time.Duration) {
	m.stage.WithLabelValues(stage).Observe(took.Seconds())
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stepStages == nil {
		m.stepStages = map[string]messages.Duration{}
	}
	m.stepStages[stage] += messages.Duration(took)
}

// takeStages returns the stage totals observed since the last call, for a
// step's result, and starts new ones.
func (m *metrics) takeStages() map[string]messages.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.stepStages
	m.stepStages = nil
	return st
}
