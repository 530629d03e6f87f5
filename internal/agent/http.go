package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpShutdownTimeout bounds the wait for in-flight scrapes at shutdown.
const httpShutdownTimeout = 2 * time.Second

// serveHTTP serves /metrics, /healthz (the process and its NATS connection
// are alive) and /readyz (the agent takes assignments) on cfg.HTTPAddr. It
// returns the address it listens on and a function that stops it.
func (a *agent) serveHTTP(ctx context.Context) (string, func(), error) {
	if a.cfg.HTTPAddr == "" {
		return "", func() {}, nil
	}
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return "", nil, fmt.Errorf("agent: listen on %s: %w", a.cfg.HTTPAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.cfg.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		status(w, !a.nc.IsClosed(), "nats connection closed")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		status(w, a.ready.Load() && a.nc.IsConnected(), "not taking assignments")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error().Err(err).Msg("http server")
		}
	}()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), httpShutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return ln.Addr().String(), stop, nil
}

func status(w http.ResponseWriter, ok bool, why string) {
	if !ok {
		http.Error(w, why, http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}
