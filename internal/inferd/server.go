package inferd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	"github.com/screenfleet/screenfleet/internal/kserve"
	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/internal/ocr"
)

// Config is what inferd needs to run.
type Config struct {
	// GRPCAddr is where the inference protocol is served (host:port; port 0
	// picks a free one). Triton's port is 8001.
	GRPCAddr string
	// HTTPAddr serves /metrics, /healthz and /readyz.
	HTTPAddr string
	// OCRWorkers is the number of Tesseract engines; 0 means one per CPU.
	OCRWorkers int
	// MaxBatch is the largest batch a model takes; 0 means DefaultMaxBatch.
	MaxBatch int
	// StopTimeout bounds the wait for requests in flight on stop; 0 means
	// DefaultStopTimeout.
	StopTimeout time.Duration
	// Version is reported by ServerMetadata.
	Version string
	// Delay configures the "delay" model, served when its base or per-item
	// time is set.
	Delay DelayConfig
	// Extra models are served next to the built-in ones.
	Extra []Model
}

// Defaults for Config's zero values.
const (
	// DefaultMaxBatch matches what a worker gathers in one bounded wait.
	DefaultMaxBatch = 8
	// DefaultStopTimeout lets a full batch of OCR on two cores finish.
	DefaultStopTimeout = 10 * time.Second
)

// Server is a running inferd. Stop it with Stop.
type Server struct {
	grpc     *grpc.Server
	http     *http.Server
	grpcAddr string
	httpAddr string
	svc      *service
	pool     *ocr.Pool
	timeout  time.Duration
	log      zerolog.Logger
	done     chan struct{}
	doneOnce sync.Once
	serveErr error
	stopOnce sync.Once
	stopErr  error
}

// Run serves until ctx is cancelled, then stops gracefully. It returns the
// error that made it fail, or nil after a stop asked for through ctx (also
// when that comes during start-up).
func Run(ctx context.Context, cfg Config, log zerolog.Logger) error {
	s, err := Start(ctx, cfg, log)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil
		}
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.Done():
	}
	return s.Stop()
}

// Start starts the OCR engines, binds both addresses and serves in the
// background. ctx bounds start-up only; the server runs until Stop.
func Start(ctx context.Context, cfg Config, log zerolog.Logger) (*Server, error) {
	cfg = withDefaults(cfg)
	started := time.Now()
	pool, err := ocr.NewPool(cfg.OCRWorkers, ocr.Options{})
	if err != nil {
		return nil, fmt.Errorf("start ocr: %w", err)
	}
	// Engines take a while to start; give up here if the caller has.
	if err := ctx.Err(); err != nil {
		pool.Close()
		return nil, fmt.Errorf("start: %w", err)
	}
	s, err := listen(ctx, cfg, pool, log)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.svc.ready.Store(true)
	log.Info().Str("event", "started").Str("grpc_addr", s.grpcAddr).Str("http_addr", s.httpAddr).
		Int("ocr_workers", pool.Size()).Dur("elapsed", time.Since(started)).Msg("inferd serving")
	return s, nil
}

func withDefaults(cfg Config) Config {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	return cfg
}

// listen binds both addresses and starts serving on them.
func listen(ctx context.Context, cfg Config, pool *ocr.Pool, log zerolog.Logger) (*Server, error) {
	m := newMetrics()
	models := builtinModels(cfg, pool)
	for _, e := range cfg.Extra {
		models = append(models, e)
	}
	svc, err := newService(models, cfg.Version, m, log)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	glis, err := lc.Listen(ctx, "tcp", cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("listen grpc: %w", err)
	}
	hlis, err := lc.Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		glis.Close()
		return nil, fmt.Errorf("listen http: %w", err)
	}
	s := &Server{
		grpc: grpc.NewServer(
			grpc.MaxRecvMsgSize(kserve.MaxMessageSize),
			grpc.MaxSendMsgSize(kserve.MaxMessageSize),
		),
		grpcAddr: glis.Addr().String(),
		httpAddr: hlis.Addr().String(),
		svc:      svc,
		pool:     pool,
		timeout:  cfg.StopTimeout,
		log:      log,
		done:     make(chan struct{}),
	}
	s.http = &http.Server{Handler: s.httpHandler(m), ReadHeaderTimeout: 5 * time.Second}
	pb.RegisterGRPCInferenceServiceServer(s.grpc, svc)
	go s.serve("grpc", func() error { return s.grpc.Serve(glis) })
	go s.serve("http", func() error { return s.http.Serve(hlis) })
	return s, nil
}

func (s *Server) httpHandler(m *metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.svc.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// serve runs one listener's loop; when it ends for any reason but a stop,
// the error is kept and Done is closed so Run can shut the rest down.
func (s *Server) serve(name string, loop func() error) {
	err := loop()
	if err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, http.ErrServerClosed) {
		s.doneOnce.Do(func() {
			s.serveErr = fmt.Errorf("serve %s: %w", name, err)
			close(s.done)
		})
	}
}

// GRPCAddr is the address the inference protocol is served on.
func (s *Server) GRPCAddr() string { return s.grpcAddr }

// HTTPAddr is the address /metrics, /healthz and /readyz are served on.
func (s *Server) HTTPAddr() string { return s.httpAddr }

// Done is closed when serving failed; Stop must still be called.
func (s *Server) Done() <-chan struct{} { return s.done }

// Stop reports not ready, lets requests in flight finish for up to the stop
// timeout, cancels the rest, and frees the OCR engines. It returns the error
// that ended serving early, if any. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		started := time.Now()
		s.svc.ready.Store(false)
		s.log.Info().Str("event", "stopping").Msg("inferd stopping")
		forced := s.stopGRPC()
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		if err := s.http.Shutdown(ctx); err != nil {
			s.http.Close()
		}
		s.pool.Close()
		s.doneOnce.Do(func() { close(s.done) })
		s.stopErr = s.serveErr
		s.log.Info().Str("event", "stopped").Bool("forced", forced).
			Dur("elapsed", time.Since(started)).Msg("inferd stopped")
	})
	return s.stopErr
}

// stopGRPC stops gracefully within the timeout, then forcibly; it reports
// whether it had to force.
func (s *Server) stopGRPC() bool {
	graceful := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(graceful)
	}()
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	select {
	case <-graceful:
		return false
	case <-timer.C:
		s.grpc.Stop()
		<-graceful
		return true
	}
}
