package worker

import (
	"fmt"

	"github.com/screenfleet/screenfleet/internal/telemetry"
)

// serveHTTP serves /metrics, /healthz and /readyz on cfg.HTTPAddr, when set.
// Listening happens here so a taken port fails Start.
func (w *Worker) serveHTTP() error {
	srv, err := telemetry.Serve(w.cfg.HTTPAddr, w.cfg.Registry, w.notReady, w.log)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	w.telemetry = srv
	return nil
}

// HTTPAddr returns the address the HTTP server listens on, or "" when
// cfg.HTTPAddr was empty. It resolves a port 0 in the configuration.
func (w *Worker) HTTPAddr() string { return w.telemetry.Addr() }
