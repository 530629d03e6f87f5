// Command agentd is the agent inside a sandbox: it takes task assignments
// over NATS, runs the task's app on the sandbox's X display, and drives it.
// Every flag can also be set through the environment as SF_<FLAG>, such as
// SF_NATS_URL. See internal/agent.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"

	"github.com/nats-io/nats.go"

	"github.com/screenfleet/screenfleet/internal/agent"
	"github.com/screenfleet/screenfleet/internal/agentauth"
	"github.com/screenfleet/screenfleet/internal/daemon"
	"github.com/screenfleet/screenfleet/internal/natsconn"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// options are the parsed flags.
type options struct {
	cfg agent.Config
	log daemon.Logging
	tls natsconn.TLS
}

// run parses args, runs the agent until SIGTERM or SIGINT, and returns the
// exit code: 0 after a clean stop, 1 when the agent fails, 2 for bad flags.
func run(args []string, stderr io.Writer) int {
	opts, err := parse(args, stderr)
	if code, done := daemon.UsageExit("agentd", err, stderr); done {
		return code
	}
	log := opts.log.Logger("agentd")
	return daemon.Run(log, func(ctx context.Context) error { return agent.Run(ctx, opts.cfg, log) })
}

// parse reads flags from args and SF_* environment variables.
func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("agentd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.cfg.NATSURL, "nats-url", nats.DefaultURL, "NATS server URL")
	fs.StringVar(&o.cfg.Sandbox, "sandbox", "", "sandbox id (required)")
	fs.StringVar(&o.cfg.Display, "display", os.Getenv("DISPLAY"), "X display of the sandbox")
	fs.StringVar(&o.cfg.WorkDir, "work-dir", "",
		"folder for the app's HOME, profiles and logs (default: a temporary folder)")
	fs.StringVar(&o.cfg.SubjectPrefix, "subject-prefix", messages.DefaultPrefix,
		"prefix of every NATS subject")
	fs.DurationVar(&o.cfg.InferTimeout, "infer-timeout", agent.DefaultInferTimeout,
		"timeout of one inference request")
	fs.StringVar(&o.cfg.FrameCodec, "frame-codec", messages.CodecRaw,
		"how frames are encoded: sfraw (zstd-compressed pixels) or png")
	fs.StringVar(&o.cfg.HTTPAddr, "http-addr", "127.0.0.1:0",
		"address of /metrics, /healthz and /readyz (empty: off)")
	o.log.AddFlags(fs)
	o.tls.AddFlags(fs)
	err := daemon.Parse(fs, args)
	if err != nil {
		return o, err
	}
	if o.cfg.NATSOptions, err = o.tls.Options(); err != nil {
		return o, err
	}
	if o.cfg.Sandbox == "" {
		return o, errors.New("--sandbox is required")
	}
	// Replies come to an inbox of this sandbox's own, the only one its NATS
	// user may read under an auth callout (internal/agentauth). A refused
	// login is retried like a lost server: the callout's dispatcher may be
	// restarting.
	o.cfg.NATSOptions = append(o.cfg.NATSOptions, nats.CustomInboxPrefix(agentauth.InboxPrefix(o.cfg.Sandbox)),
		nats.IgnoreAuthErrorAbort())
	if o.cfg.Display == "" {
		return o, errors.New("--display is required when DISPLAY is not set")
	}
	return o, nil
}
