package worker

import "errors"

// errNoNVML means NVIDIA's management library could not be loaded: a host
// without the driver, or a worker built without cgo (NVML is reached
// through cgo and dlopen).
var errNoNVML = errors.New("no NVIDIA management library")

// watchGPU starts the GPU series unless the worker runs on the CPU, and
// says once why when it cannot.
func (w *Worker) watchGPU() {
	if w.cfg.GPU == DefaultGPU {
		return
	}
	g, err := startGPUMetrics(w.cfg.Registry, w.cfg.GPU)
	if err != nil {
		w.log.Info().Err(err).Str("event", "gpu_metrics_off").
			Msg("no NVIDIA management library or device; GPU metrics off")
		return
	}
	w.gpu = g
}
