package inferd

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc/codes"
)

// metrics are inferd's Prometheus series, registered on a registry of their
// own so that two servers in one process (tests, sfctl dev) do not clash.
type metrics struct {
	registry     *prometheus.Registry
	inferSeconds *prometheus.HistogramVec
	requests     *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		inferSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sf_inferd_infer_seconds",
			Help: "Time to answer one ModelInfer request, by model.",
			// One OCR frame takes about 0.3 s on one core and a dense page
			// over 1 s; a batch of 8 on few cores takes several seconds.
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"model"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sf_inferd_requests_total",
			Help: "ModelInfer requests, by model and gRPC status code.",
		}, []string{"model", "code"}),
	}
	m.registry.MustRegister(m.inferSeconds, m.requests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(model string, code codes.Code, took time.Duration) {
	m.inferSeconds.WithLabelValues(model).Observe(took.Seconds())
	m.requests.WithLabelValues(model, code.String()).Inc()
}
