package dispatcher

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// metrics are the dispatcher's Prometheus series, on a registry of its own
// so that several dispatchers (tests, sfctl dev) can live in one process.
// Labels carry states only, never task or sandbox ids.
type metrics struct {
	reg         *prometheus.Registry
	tasks       *prometheus.CounterVec
	sandboxes   *prometheus.GaugeVec
	taskSeconds *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sf_tasks_total",
			Help: "Task state changes made by this dispatcher, by the state entered.",
		}, []string{"state"}),
		sandboxes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sf_dispatcher_sandboxes",
			Help: "Sandboxes this dispatcher holds, by state.",
		}, []string{"state"}),
		taskSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sf_task_seconds",
			Help: "Time from pick-up to final state of the tasks this dispatcher ended.",
			// Tasks run from seconds (a form) to many minutes (a slow app).
			Buckets: []float64{1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800},
		}, []string{"state"}),
	}
	m.reg.MustRegister(m.tasks, m.sandboxes, m.taskSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range []messages.State{messages.StateQueued, messages.StateAssigned, messages.StateRunning,
		messages.StateSucceeded, messages.StateFailed} {
		m.tasks.WithLabelValues(string(s))
	}
	m.tasks.WithLabelValues(stateDeadLetter)
	m.sandboxes.WithLabelValues("busy")
	return m
}

// stateDeadLetter labels tasks that went to the dead-letter stream.
const stateDeadLetter = "dead_letter"

// Registry returns the registry holding the dispatcher's metrics, for a
// process that serves them itself (sfctl dev).
func (d *Dispatcher) Registry() *prometheus.Registry { return d.metrics.reg }
