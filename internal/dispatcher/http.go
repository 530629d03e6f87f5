package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// readyCheckTimeout bounds the consumer lookup behind /readyz, well inside
// a typical probe timeout.
const readyCheckTimeout = 2 * time.Second

// serveHTTP starts /metrics, /healthz and /readyz on HTTPAddr, if set.
func (d *Dispatcher) serveHTTP() error {
	if d.cfg.HTTPAddr == "" {
		return nil
	}
	l, err := net.Listen("tcp", d.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("dispatcher: http: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", d.readyz)
	d.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	d.httpAddr = l.Addr()
	go func() {
		if err := d.httpSrv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error().Err(err).Msg("http server stopped")
		}
	}()
	d.log.Info().Str("event", "http_listening").Str("addr",
		l.Addr().String()).Msg("serving metrics and health")
	return nil
}

// HTTPAddr returns the address the HTTP endpoints listen on, or "" when
// they are not served.
func (d *Dispatcher) HTTPAddr() string {
	if d.httpAddr == nil {
		return ""
	}
	return d.httpAddr.String()
}

// Ready reports, as an error, why the dispatcher cannot take tasks: the
// NATS connection is down or the task consumer does not exist.
func (d *Dispatcher) Ready(ctx context.Context) error {
	if !d.nc.IsConnected() {
		return fmt.Errorf("nats: %s", d.nc.Status())
	}
	if _, err := d.js.Consumer(ctx, messages.TasksStream, messages.TasksConsumer); err != nil {
		return fmt.Errorf("consumer %s: %w", messages.TasksConsumer, err)
	}
	return nil
}

func (d *Dispatcher) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyCheckTimeout)
	defer cancel()
	if err := d.Ready(ctx); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}
