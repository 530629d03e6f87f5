// Command agentd is the agent inside a sandbox: it takes task assignments
// over NATS, runs the task's app on the sandbox's X display, and drives it.
// Every flag can also be set through the environment as SF_<FLAG>, such as
// SF_NATS_URL. See internal/agent.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/peterbourgon/ff/v3"

	"github.com/screenfleet/screenfleet/internal/agent"
	"github.com/screenfleet/screenfleet/internal/logging"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// options are the parsed flags.
type options struct {
	cfg       agent.Config
	logFormat string
	logLevel  string
}

// run parses args, runs the agent until SIGTERM or SIGINT, and returns the
// exit code: 0 after a clean stop, 1 when the agent fails, 2 for bad flags.
func run(args []string, stderr io.Writer) int {
	opts, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "agentd:", err)
		return 2
	}
	log := logging.New("agentd", opts.logFormat, opts.logLevel)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := agent.Run(ctx, opts.cfg, log); err != nil {
		log.Error().Err(err).Msg("agent failed")
		return 1
	}
	return 0
}

// parse reads flags from args and SF_* environment variables.
func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("agentd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.cfg.NATSURL, "nats-url", nats.DefaultURL, "NATS server URL")
	fs.StringVar(&o.cfg.Sandbox, "sandbox", "", "sandbox id (required)")
	fs.StringVar(&o.cfg.Display, "display", os.Getenv("DISPLAY"), "X display of the sandbox")
	fs.StringVar(&o.cfg.WorkDir, "work-dir", "", "folder for the app's HOME, profiles and logs (default: a temporary folder)")
	fs.StringVar(&o.cfg.SubjectPrefix, "subject-prefix", messages.DefaultPrefix, "prefix of every NATS subject")
	fs.DurationVar(&o.cfg.InferTimeout, "infer-timeout", agent.DefaultInferTimeout, "timeout of one inference request")
	fs.StringVar(&o.cfg.HTTPAddr, "http-addr", "127.0.0.1:0", "address of /metrics, /healthz and /readyz (empty: off)")
	fs.StringVar(&o.logFormat, "log-format", logging.FormatAuto, "log format: auto, json or console")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix("SF")); err != nil {
		return o, err
	}
	if o.cfg.Sandbox == "" {
		return o, errors.New("--sandbox is required")
	}
	if o.cfg.Display == "" {
		return o, errors.New("--display is required when DISPLAY is not set")
	}
	return o, nil
}
