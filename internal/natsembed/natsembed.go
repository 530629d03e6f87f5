// Package natsembed runs a NATS server with JetStream inside the current
// process, for the dispatcher when no server URL is given, for `sfctl dev`,
// and for tests that need the real server.
package natsembed

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

const (
	// DefaultMaxPayload matches deploy/nats.conf (8 MiB): a raw 1280×800
	// frame (about 4 MB) fits, and the server does not warn below 8 MiB.
	DefaultMaxPayload = 8 << 20

	// defaultReadyTimeout bounds the wait for the server to accept clients.
	// Start-up with an empty store takes well under a second; recovering a
	// large JetStream store on a slow disk can take several.
	defaultReadyTimeout = 10 * time.Second
)

// Config says where the embedded server keeps its data and how it listens.
type Config struct {
	// DataDir holds the JetStream file store. Required: without it the
	// server would fall back to a temporary directory and lose tasks.
	DataDir string
	// Host is the listen address; empty means 127.0.0.1.
	Host string
	// Port is the client port; 0 or -1 picks a free one.
	Port int
	// MaxPayload is the largest message the server accepts; 0 means 8 MiB.
	MaxPayload int32
	// ServerName names the server in logs and cluster views; empty lets the
	// server generate one.
	ServerName string
	// ReadyTimeout bounds the wait for readiness; 0 means 10 s.
	ReadyTimeout time.Duration
	// NoLog silences the server entirely instead of routing its warnings
	// and errors into the logger.
	NoLog bool
}

// Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
}

// Start starts the server and waits until it accepts connections. The
// server's own warnings and errors go to log (a logger for the server
// component, e.g. logging.New("nats-server", ...)) at warn and error level.
func Start(cfg Config, log zerolog.Logger) (*Server, error) {
	opts, err := cfg.options()
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: new server: %w", err)
	}
	if !cfg.NoLog {
		ns.SetLoggerV2(logAdapter{log: log}, false, false, false)
	}
	ns.Start()

	wait := cfg.ReadyTimeout
	if wait <= 0 {
		wait = defaultReadyTimeout
	}
	if !ns.ReadyForConnections(wait) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("natsembed: server not ready for connections after %s", wait)
	}
	return &Server{ns: ns}, nil
}

func (cfg Config) options() (*server.Options, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("natsembed: data dir is required (JetStream file store)")
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("natsembed: data dir: %w", err)
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       cfg.Host,
		Port:       cfg.Port,
		MaxPayload: cfg.MaxPayload,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true, // the host process owns signal handling
		NoLog:      cfg.NoLog,
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = DefaultMaxPayload
	}
	return opts, nil
}

// ClientURL returns the URL clients (and sandboxes' agents) connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// NATSServer returns the underlying server, for in-process connections
// (nats.InProcessServer) and tests.
func (s *Server) NATSServer() *server.Server { return s.ns }

// Shutdown stops the server and waits until it has fully stopped. It is safe
// to call more than once.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// logAdapter routes the server's log calls into zerolog. Notices, debug and
// trace lines are dropped: the server announces every start-up detail at
// notice level, which would drown the dispatcher's own state changes.
type logAdapter struct {
	log zerolog.Logger
}

func (a logAdapter) Noticef(string, ...any) {}
func (a logAdapter) Debugf(string, ...any)  {}
func (a logAdapter) Tracef(string, ...any)  {}

func (a logAdapter) Warnf(format string, v ...any) {
	a.log.Warn().Msgf(format, v...)
}

func (a logAdapter) Errorf(format string, v ...any) {
	a.log.Error().Msgf(format, v...)
}

// Fatalf logs at error level only. The server calls it for conditions it
// then handles by shutting itself down; exiting the host process from
// inside a library would skip the host's own teardown.
func (a logAdapter) Fatalf(format string, v ...any) {
	a.log.Error().Bool("fatal", true).Msgf(format, v...)
}
