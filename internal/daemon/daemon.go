// Package daemon is what every screenfleet daemon's main shares: flags with
// SF_ environment fallbacks, the logging flags, and a run loop that SIGTERM
// or SIGINT stops gracefully (a second signal ends the process at once).
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/peterbourgon/ff/v3"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/logging"
)

// Exit codes every daemon uses.
const (
	ExitOK    = 0
	ExitFail  = 1
	ExitUsage = 2
)

// Logging holds the --log-format and --log-level flags.
type Logging struct {
	Format string
	Level  string
}

// AddFlags declares --log-format and --log-level on fs.
func (l *Logging) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&l.Format, "log-format", logging.FormatAuto, "log format: auto, json or console")
	fs.StringVar(&l.Level, "log-level", "info", "log level: debug, info, warn or error")
}

// Logger returns the component's logger as the flags ask.
func (l Logging) Logger(component string) zerolog.Logger {
	return logging.New(component, l.Format, l.Level)
}

// Parse reads args into fs, then SF_<FLAG> environment variables for the
// flags not given (--nats-url from SF_NATS_URL). Positional arguments are
// refused: every daemon takes flags only.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix("SF")); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return nil
}

// UsageExit turns a flag-parsing error into an exit code, printing it to
// stderr. done is false when err is nil and the daemon should go on.
func UsageExit(name string, err error, stderr io.Writer) (code int, done bool) {
	switch {
	case err == nil:
		return ExitOK, false
	case errors.Is(err, flag.ErrHelp):
		return ExitOK, true
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitUsage, true
	}
}

// Run calls fn with a context that the first SIGTERM or SIGINT cancels; a
// second signal ends the process the default way, without waiting for the
// drain. It returns ExitOK when fn returns nil, else logs the error and
// returns ExitFail.
func Run(log zerolog.Logger, fn func(ctx context.Context) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	if err := fn(ctx); err != nil {
		log.Error().Err(err).Msg("stopped on error")
		return ExitFail
	}
	return ExitOK
}
