//go:build cgo

package worker

import (
	"fmt"
	"strconv"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"
)

// gpuMetrics reads one GPU's utilisation and memory through NVML when
// Prometheus scrapes. NVML is loaded at run time (dlopen), so a host without
// the driver builds and runs the worker, just without these series.
type gpuMetrics struct {
	lib nvml.Interface
	dev nvml.Device
}

// startGPUMetrics registers the GPU series for the device named gpu (an
// index or a UUID). It returns errNoNVML, or why the device was not found;
// the worker logs it once and carries on.
func startGPUMetrics(reg prometheus.Registerer, gpu string) (*gpuMetrics, error) {
	lib := nvml.New()
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("%w: %s", errNoNVML, lib.ErrorString(ret))
	}
	var dev nvml.Device
	var ret nvml.Return
	if i, err := strconv.Atoi(gpu); err == nil {
		dev, ret = lib.DeviceGetHandleByIndex(i)
	} else {
		dev, ret = lib.DeviceGetHandleByUUID(gpu)
	}
	if ret != nvml.SUCCESS {
		_ = lib.Shutdown()
		return nil, fmt.Errorf("gpu %q: %s", gpu, lib.ErrorString(ret))
	}
	g := &gpuMetrics{lib: lib, dev: dev}
	if err := g.register(reg, gpu); err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

func (g *gpuMetrics) register(reg prometheus.Registerer, gpu string) error {
	gl := prometheus.Labels{"gpu": gpu}
	util := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sf_worker_gpu_utilization_ratio", ConstLabels: gl,
		Help: "Fraction of the last sample period the GPU was busy (NVML).",
	}, func() float64 {
		u, ret := g.dev.GetUtilizationRates()
		if ret != nvml.SUCCESS {
			return -1
		}
		return float64(u.Gpu) / 100
	})
	used := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sf_worker_gpu_memory_used_bytes", ConstLabels: gl, Help: "GPU memory in use (NVML).",
	}, func() float64 { m, _ := g.dev.GetMemoryInfo(); return float64(m.Used) })
	total := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sf_worker_gpu_memory_total_bytes", ConstLabels: gl, Help: "GPU memory in all (NVML).",
	}, func() float64 { m, _ := g.dev.GetMemoryInfo(); return float64(m.Total) })
	for _, c := range []prometheus.Collector{util, used, total} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register gpu metrics: %w", err)
		}
	}
	return nil
}

// close releases NVML. Safe on nil.
func (g *gpuMetrics) close() {
	if g != nil {
		_ = g.lib.Shutdown()
	}
}
