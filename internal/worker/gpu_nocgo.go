//go:build !cgo

package worker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// gpuMetrics is empty in a worker built without cgo: it has no NVML.
type gpuMetrics struct{}

func startGPUMetrics(prometheus.Registerer, string) (*gpuMetrics, error) {
	return nil, fmt.Errorf("%w: built without cgo", errNoNVML)
}

func (g *gpuMetrics) close() {}
