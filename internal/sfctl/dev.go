package sfctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/screenfleet/screenfleet/internal/dispatcher"
	"github.com/screenfleet/screenfleet/internal/inferd"
	"github.com/screenfleet/screenfleet/internal/kserve"
	"github.com/screenfleet/screenfleet/internal/logging"
	"github.com/screenfleet/screenfleet/internal/natsembed"
	"github.com/screenfleet/screenfleet/internal/sandbox"
	"github.com/screenfleet/screenfleet/internal/worker"
)

// devOpts configures the all-in-one system of `sfctl dev` and `sfctl demo`.
type devOpts struct {
	dataDir      string
	natsPort     int
	site         string
	siteAddr     string
	maxSandboxes int
	ocrWorkers   int
	agentd       string
	metricsPorts bool
	record       recordFlags
}

// The daemons' own default metrics ports, which `sfctl dev --metrics-ports`
// uses too, so that one Prometheus configuration (deploy/prometheus-dev.yml)
// scrapes either.
const (
	inferdMetricsPort     = 9101
	dispatcherMetricsPort = 9102
	workerMetricsPort     = 9103
)

// metricsAddr is where a part serves /metrics: its fixed port with
// --metrics-ports, else any free port.
func (o *devOpts) metricsAddr(port int) string {
	if !o.metricsPorts {
		port = 0
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func (o *devOpts) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", ".sfdev", "where the embedded NATS server keeps JetStream data")
	f.IntVar(&o.natsPort, "nats-port", 4222, "port of the embedded NATS server (-1 picks a free one)")
	f.StringVar(&o.site, "site", "examples/site",
		"folder of web pages to serve for the examples (empty: none)")
	f.StringVar(&o.siteAddr, "site-addr", "127.0.0.1:8088", "address of the example web server")
	f.IntVar(&o.maxSandboxes, "max-sandboxes", 2, "sandboxes running at once")
	f.IntVar(&o.ocrWorkers, "ocr-workers", 0, "Tesseract engines in inferd (0: one per CPU)")
	f.StringVar(&o.agentd, "agentd", "", "agentd binary (default: next to sfctl, then PATH)")
	f.BoolVar(&o.metricsPorts, "metrics-ports", false,
		"serve metrics on the daemons' default ports (inferd 9101, dispatcher 9102, worker 9103) instead of free ones")
	o.record.flags(f)
}

func newDevCmd(g *globals) *cobra.Command {
	var o devOpts
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole system in one process: NATS, inferd, a worker, a dispatcher",
		Long: `dev starts an embedded NATS server with JetStream, inferd (OCR on the CPU,
speaking Triton's gRPC protocol), one worker, a dispatcher with the process
sandbox runtime, and a web server for the example pages. It prints where each
listens and runs until interrupted.`,
		Example: `  sfctl dev
  # then, in another terminal:
  sfctl submit examples/tasks/login.json --wait
  # with Prometheus scraping it (see README, "See the fleet"):
  sfctl dev --metrics-ports &
  prometheus --config.file=deploy/prometheus-dev.yml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := startStack(cmd.Context(), g, o)
			if err != nil {
				return err
			}
			defer st.stop()
			st.describe(g)
			fmt.Fprintln(g.out, "ready: press Ctrl-C to stop")
			<-cmd.Context().Done()
			fmt.Fprintln(g.out, "stopping")
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}

// stack is a running all-in-one system.
type stack struct {
	log     zerolog.Logger
	nats    *natsembed.Server
	nc      *nats.Conn
	inferd  *inferd.Server
	backend *kserve.Client
	worker  *worker.Worker
	disp    *dispatcher.Dispatcher
	site    *http.Server
	siteURL string
	stops   []func(context.Context)
}

// startStack starts every part, stopping what it started when one fails.
func startStack(ctx context.Context, g *globals, o devOpts) (*stack, error) {
	s := &stack{log: logging.New("sfctl-dev", g.logFormat, g.logLevel)}
	steps := []struct {
		name  string
		start func(context.Context, *globals, devOpts) error
	}{
		{"example site", s.startSite}, {"embedded NATS", s.startNATS}, {"inferd", s.startInferd},
		{"worker (waits until inferd's models are ready)", s.startWorker}, {"dispatcher", s.startDispatcher},
	}
	p := newProgress(g.out)
	for _, step := range steps {
		began := time.Now()
		p.begin(step.name)
		if err := step.start(ctx, g, o); err != nil {
			p.end("failed")
			s.stop()
			return nil, err
		}
		p.end(roundDur(time.Since(began)))
	}
	return s, nil
}

// progress prints one "starting X… 196ms" line per part. Start-up can take
// many seconds (Tesseract engines, JetStream recovery), so on a terminal the
// line says what is being waited for before it ends. Elsewhere (a log file,
// often with the daemons' log lines from stderr in it) it is written whole
// when the part has started, so that no log line lands in its middle.
type progress struct {
	out  io.Writer
	live bool
	name string
}

func newProgress(out io.Writer) *progress {
	f, ok := out.(*os.File)
	return &progress{out: out, live: ok && isatty.IsTerminal(f.Fd())}
}

func (p *progress) begin(name string) {
	p.name = name
	if p.live {
		fmt.Fprintf(p.out, "starting %s… ", name)
	}
}

func (p *progress) end(result string) {
	if p.live {
		fmt.Fprintln(p.out, result)
		return
	}
	fmt.Fprintf(p.out, "starting %s… %s\n", p.name, result)
}

// stop stops every part in the reverse order of starting.
func (s *stack) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i](ctx)
	}
	s.stops = nil
}

func (s *stack) startNATS(_ context.Context, g *globals, o devOpts) error {
	dir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}
	srv, err := natsembed.Start(natsembed.Config{DataDir: dir, Port: o.natsPort},
		logging.New("nats-server", g.logFormat, g.logLevel))
	if err != nil {
		return fmt.Errorf("embedded NATS: %w", err)
	}
	s.nats = srv
	s.stops = append(s.stops, func(context.Context) { srv.Shutdown() })
	nc, err := nats.Connect(srv.ClientURL(), nats.Name("sfctl-dev"), nats.InProcessServer(srv.NATSServer()))
	if err != nil {
		return fmt.Errorf("connect to embedded NATS: %w", err)
	}
	s.nc = nc
	s.stops = append(s.stops, func(context.Context) { nc.Close() })
	return nil
}

func (s *stack) startInferd(ctx context.Context, g *globals, o devOpts) error {
	srv, err := inferd.Start(ctx, inferd.Config{GRPCAddr: "127.0.0.1:0",
		HTTPAddr:   o.metricsAddr(inferdMetricsPort),
		OCRWorkers: o.ocrWorkers}, logging.New("inferd", g.logFormat, g.logLevel))
	if err != nil {
		return fmt.Errorf("inferd: %w", err)
	}
	s.inferd = srv
	s.stops = append(s.stops, func(context.Context) { _ = srv.Stop() })
	client, err := kserve.Dial(ctx, srv.GRPCAddr())
	if err != nil {
		return fmt.Errorf("dial inferd: %w", err)
	}
	s.backend = client
	s.stops = append(s.stops, func(context.Context) { _ = client.Close() })
	return nil
}

func (s *stack) startWorker(ctx context.Context, g *globals, o devOpts) error {
	w, err := worker.Start(ctx, worker.Config{Conn: s.nc, SubjectPrefix: g.prefix,
		HTTPAddr:    o.metricsAddr(workerMetricsPort),
		BackendAddr: s.inferd.GRPCAddr()}, s.backend, logging.New("worker", g.logFormat, g.logLevel))
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	s.worker = w
	s.stops = append(s.stops, func(ctx context.Context) { _ = w.Stop(ctx) })
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := w.WaitReady(wctx); err != nil {
		return fmt.Errorf("worker never became ready: %w", err)
	}
	return nil
}

// devAckWait is the dev dispatcher's ack wait. Its server stops with it,
// and a server that restarts forgets the naks of the tasks handed back at
// Ctrl-C (the redelivery queue is not stored): they come back only when
// the ack wait runs out. 10 s instead of 60 s lets a restarted `sfctl dev`
// resume them soon.
const devAckWait = 10 * time.Second

func (s *stack) startDispatcher(ctx context.Context, g *globals, o devOpts) error {
	log := logging.New("dispatcher", g.logFormat, g.logLevel)
	rt, err := sandbox.NewProcess(sandbox.ProcessConfig{AgentdPath: o.agentd,
		WorkRoot: filepath.Join(os.TempDir(), "screenfleet-sandboxes"), AgentLogFormat: logging.FormatJSON}, log)
	if err != nil {
		return fmt.Errorf("process runtime: %w", err)
	}
	d, err := dispatcher.New(dispatcher.Config{NATSURL: s.nats.ClientURL(), Conn: s.nc,
		SubjectPrefix: g.prefix,
		MaxSandboxes:  o.maxSandboxes, HTTPAddr: o.metricsAddr(dispatcherMetricsPort), Runtime: rt,
		Recording: o.record.config(), AckWait: devAckWait}, log)
	if err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	if err := d.Start(ctx); err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	s.disp = d
	s.stops = append(s.stops, func(ctx context.Context) { _ = d.Stop(ctx) })
	return nil
}

func (s *stack) startSite(_ context.Context, _ *globals, o devOpts) error {
	if o.site == "" {
		return nil
	}
	if _, err := os.Stat(o.site); err != nil {
		return fmt.Errorf("example site: %w (run from the repository root, or pass --site '')", err)
	}
	ln, err := net.Listen("tcp", o.siteAddr)
	if err != nil {
		return fmt.Errorf("example site on %s: %w (pass --site-addr)", o.siteAddr, err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(o.site)), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error().Err(err).Msg("example site stopped")
		}
	}()
	s.site, s.siteURL = srv, "http://"+ln.Addr().String()
	s.stops = append(s.stops, func(ctx context.Context) { _ = srv.Shutdown(ctx) })
	return nil
}

// describe prints where each part listens.
func (s *stack) describe(g *globals) {
	w := g.out
	fmt.Fprintf(w, "nats        %s   (JetStream; SF_NATS_URL=%s)\n", s.nats.ClientURL(), s.nats.ClientURL())
	fmt.Fprintf(w, "inferd      grpc %s   metrics http://%s/metrics\n", s.inferd.GRPCAddr(),
		s.inferd.HTTPAddr())
	fmt.Fprintf(w, "worker      model ocr, gpu cpu   metrics http://%s/metrics\n", s.worker.HTTPAddr())
	fmt.Fprintf(w, "dispatcher  %s   metrics http://%s/metrics\n", s.disp.ID(), s.disp.HTTPAddr())
	if s.siteURL != "" {
		fmt.Fprintf(w, "examples    %s/login.html\n", s.siteURL)
	}
}
