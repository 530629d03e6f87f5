package dispatcher

import (
	"context"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// queueScrapeTimeout bounds the consumer lookup a scrape makes for the
// queue depth, well inside Prometheus' default 10 s scrape timeout.
const queueScrapeTimeout = 2 * time.Second

// Values of the state label of sf_dispatcher_sandboxes_total: how a
// sandbox's life began or ended.
const (
	sandboxStarted     = "started"
	sandboxStartFailed = "start_failed"
	sandboxDied        = "died"
	sandboxStopped     = "stopped"
)

// metrics are the dispatcher's Prometheus series, on a registry of its own
// so that several dispatchers (tests, sfctl dev) can live in one process.
// Labels carry states, runtimes and error code names only, never task or
// sandbox ids; per-sandbox detail is in the logs and `sfctl sandboxes`.
type metrics struct {
	reg         *prometheus.Registry
	tasks       *prometheus.CounterVec
	finished    *prometheus.CounterVec
	sandboxLife *prometheus.CounterVec
	taskSeconds *prometheus.HistogramVec
	capacity    prometheus.Gauge
	step        *prometheus.HistogramVec
	stage       *prometheus.HistogramVec
	// stalled is 1 while tasks wait in the stream and the consumer
	// delivers none to a dispatcher with a free slot (C17); stalls counts
	// the times that began.
	stalled prometheus.Gauge
	stalls  prometheus.Counter
}

func newMetrics(runtime string, capacity int) *metrics {
	rl := prometheus.Labels{"runtime": runtime}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sf_tasks_total",
			Help: "Task state changes made by this dispatcher, by the state entered.",
		}, []string{"state"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sf_tasks_finished_total",
			Help: "Tasks this dispatcher saw end, by final state and reason (the error code's name; ok for success).",
		}, []string{"state", "reason"}),
		sandboxLife: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sf_dispatcher_sandboxes_total", ConstLabels: rl,
			Help: "Sandboxes started, failed to start, died under a task, or stopped.",
		}, []string{"state"}),
		taskSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sf_task_seconds",
			Help: "Time from pick-up to final state of the tasks this dispatcher ended.",
			// Tasks run from seconds (a form) to many minutes (a slow app).
			Buckets: []float64{1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800},
		}, []string{"state"}),
		capacity: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sf_dispatcher_sandbox_capacity", ConstLabels: rl,
			Help: "Sandboxes this dispatcher runs at once (its slots).",
		}),
		stalled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sf_dispatcher_consumer_stalled",
			Help: "1 while tasks wait in the stream but the task consumer delivers none " +
				"to this dispatcher's free slots.",
		}),
		stalls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sf_dispatcher_consumer_stalls_total",
			Help: "Times the task consumer was found stalled (and its settings reconciled).",
		}),
	}
	m.addStepMetrics()
	m.capacity.Set(float64(capacity))
	m.reg.MustRegister(m.tasks, m.finished, m.sandboxLife, m.taskSeconds, m.capacity, m.step, m.stage,
		m.stalled, m.stalls,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.init()
	return m
}

// init creates the series every dashboard expects, at zero.
func (m *metrics) init() {
	for _, s := range []messages.State{messages.StateQueued, messages.StateAssigned, messages.StateRunning,
		messages.StateSucceeded, messages.StateFailed, messages.StateCancelled} {
		m.tasks.WithLabelValues(string(s))
	}
	m.tasks.WithLabelValues(stateDeadLetter)
	// Every reason a task can fail for, at zero, so that a dashboard shows
	// a zero rate rather than no data: a fixed set of about fifteen.
	m.finished.WithLabelValues(string(messages.StateSucceeded), messages.CodeOK.Name())
	m.finished.WithLabelValues(string(messages.StateCancelled), messages.CodeCancelled.Name())
	for _, c := range messages.Codes() {
		if c != messages.CodeOK {
			m.finished.WithLabelValues(string(messages.StateFailed), c.Name())
		}
	}
	for _, s := range []string{sandboxStarted, sandboxStartFailed, sandboxDied, sandboxStopped} {
		m.sandboxLife.WithLabelValues(s)
	}
}

// addStepMetrics creates the step series, fed from the agents' progress
// reports: agents live as long as a sandbox, too short to be scraped
// reliably and too many to be targets (C24), so the dispatcher keeps
// their step and stage times.
func (m *metrics) addStepMetrics() {
	m.step = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "sf_step_seconds", Help: "Time to run one step, by action and outcome (ok, failed).",
		// Steps range from a 10 ms key press to a 45 s wait for a browser.
		Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
	}, []string{"action", "outcome"})
	m.stage = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "sf_step_stage_seconds", Help: "Time one step spent in each stage of perceiving and acting.",
		// From a 0.2 ms SHM capture to a multi-second inference with retries.
		Buckets: prometheus.ExponentialBuckets(0.0002, 3, 11),
	}, []string{"stage"})
	for _, st := range messages.StepStages() {
		m.stage.WithLabelValues(st)
	}
}

// observeStep records a step an agent reported, under the action of the
// task's step (validated when the task was decoded, unlike the report).
// Stage names outside the known set count as "other", so an agent cannot
// grow the label set.
func (m *metrics) observeStep(action messages.Action, s messages.StepResult) {
	outcome := "ok"
	if !s.OK {
		outcome = "failed"
	}
	m.step.WithLabelValues(string(action), outcome).Observe(s.Duration.D().Seconds())
	for name, d := range s.Stages {
		if !slices.Contains(messages.StepStages(), name) {
			name = "other"
		}
		m.stage.WithLabelValues(name).Observe(d.D().Seconds())
	}
}

// finish counts a task that reached state with code.
func (m *metrics) finish(state messages.State, code messages.Code) {
	m.finished.WithLabelValues(string(state), code.Name()).Inc()
}

// stateDeadLetter labels tasks that went to the dead-letter stream.
const stateDeadLetter = "dead_letter"

// Registry returns the registry holding the dispatcher's metrics, for a
// process that serves them itself (sfctl dev).
func (d *Dispatcher) Registry() *prometheus.Registry { return d.metrics.reg }

// liveCollector reports, on each scrape, the sandboxes held now by state
// and the depth of the task queue. Emitting current values at scrape time
// leaves no stale series behind a retired sandbox (C24).
type liveCollector struct {
	d         *Dispatcher
	sandboxes *prometheus.Desc
	pending   *prometheus.Desc
	inFlight  *prometheus.Desc
}

func newLiveCollector(d *Dispatcher) *liveCollector {
	rl := prometheus.Labels{"runtime": d.fleet.runtime}
	return &liveCollector{
		d: d,
		sandboxes: prometheus.NewDesc("sf_dispatcher_sandboxes",
			"Sandboxes this dispatcher holds now, by state.", []string{"state"}, rl),
		pending: prometheus.NewDesc("sf_tasks_pending",
			"Tasks in the TASKS stream that no dispatcher has taken yet (the queue depth, fleet-wide).", nil, nil),
		inFlight: prometheus.NewDesc("sf_tasks_in_flight",
			"Tasks taken by a dispatcher and not yet acknowledged (fleet-wide).", nil, nil),
	}
}

// Describe sends the descriptions of the series.
func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sandboxes
	ch <- c.pending
	ch <- c.inFlight
}

// Collect sends the current values. The queue depth is left out when the
// consumer cannot be read (not started yet, or NATS unreachable).
func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	for state, n := range c.d.fleet.counts() {
		ch <- prometheus.MustNewConstMetric(c.sandboxes, prometheus.GaugeValue, float64(n), state)
	}
	info, ok := c.d.consumerInfo()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(info.NumPending))
	ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(info.NumAckPending))
}

// consumerInfo reads the task consumer's state, bounded by queueScrapeTimeout.
func (d *Dispatcher) consumerInfo() (*jetstream.ConsumerInfo, bool) {
	cons := d.cons.get()
	if cons == nil {
		return nil, false
	}
	// Collect gets no context from the registry: the scrape's own
	// timeout is unknown here, so the lookup has its own bound.
	ctx, cancel := context.WithTimeout(context.Background(), queueScrapeTimeout)
	defer cancel()
	info, err := cons.Info(ctx)
	return info, err == nil
}

// stepAction is the action of step i of t, or "other" for an index the
// task does not have.
func stepAction(t messages.Task, i int) messages.Action {
	if i < 0 || i >= len(t.Steps) {
		return "other"
	}
	return t.Steps[i].Action
}
