// Command dispatcher takes screenfleet tasks from JetStream and runs each in
// a sandbox: a container of the sandbox image (--runtime docker) or local
// processes, Xvfb and agentd (--runtime process, the default). Without
// --nats-url it embeds a NATS server with JetStream, stored in --data-dir,
// and prints the URL that submitters and workers should use.
//
// Every flag can also be set from the environment with the SF_ prefix, e.g.
// SF_NATS_URL or SF_MAX_SANDBOXES.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/agentauth"
	"github.com/screenfleet/screenfleet/internal/dispatcher"
	"github.com/screenfleet/screenfleet/internal/logging"
	"github.com/screenfleet/screenfleet/internal/natsconn"
	"github.com/screenfleet/screenfleet/internal/natsembed"
	"github.com/screenfleet/screenfleet/internal/recording"
	"github.com/screenfleet/screenfleet/internal/sandbox"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// dockerSetupTimeout bounds connecting to the engine, checking the image
// and creating the network at start.
const dockerSetupTimeout = 30 * time.Second

func main() { os.Exit(run(os.Args[1:])) }

// options are the parsed flags.
type options struct {
	cfg       dispatcher.Config
	runtime   string
	process   sandbox.ProcessConfig
	docker    sandbox.DockerConfig
	reconcile dispatcher.ReconcileConfig
	pool      sandbox.PoolConfig
	dataDir   string
	logFormat string
	logLevel  string
	tls       natsconn.TLS
	auth      agentauth.Flags
	authCfg   agentauth.Config // loaded from auth when auth.Enabled()
}

// run returns the exit code: 0 after a clean stop, 1 on failure, 2 for bad flags.
func run(args []string) int {
	o, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dispatcher:", err)
		return 2
	}
	log := logging.New("dispatcher", o.logFormat, o.logLevel)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// After the first signal, restore the default handling so that a second
	// one ends the process without waiting for the shutdown.
	go func() { <-ctx.Done(); stop() }()

	if err := serve(ctx, o, log); err != nil {
		log.Error().Err(err).Msg("dispatcher failed")
		return 1
	}
	return 0
}

func serve(ctx context.Context, o options, log zerolog.Logger) error {
	if o.cfg.NATSURL == "" {
		srv, err := natsembed.Start(natsembed.Config{DataDir: o.dataDir},
			logging.New("nats-server", o.logFormat, o.logLevel))
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		o.cfg.NATSURL = srv.ClientURL()
		fmt.Printf("NATS_URL=%s\n", srv.ClientURL())
		log.Info().Str("event", "nats_embedded").Str("url", srv.ClientURL()).Str("data_dir", o.dataDir).
			Msg("embedded NATS server with JetStream")
	}
	if o.auth.Enabled() {
		stopAuth, err := agentauth.Serve(o.auth.NATSURL, o.cfg.NATSOptions, o.authCfg, log)
		if err != nil {
			return err
		}
		defer stopAuth()
	}
	sbLog := logging.New("sandbox", o.logFormat, o.logLevel)
	if o.runtime == "docker" {
		return serveDocker(ctx, o, log, sbLog)
	}
	rt, err := sandbox.NewProcess(o.process, sbLog)
	if err != nil {
		return err
	}
	o.cfg.Runtime = rt
	return dispatcher.Run(ctx, o.cfg, log)
}

// serveDocker runs the dispatcher on the docker runtime, with the
// reconciler that removes the containers nobody owns and, with --min-idle,
// a pool of warm sandboxes.
func serveDocker(ctx context.Context, o options, log, sbLog zerolog.Logger) error {
	sctx, cancel := context.WithTimeout(ctx, dockerSetupTimeout)
	rt, err := sandbox.NewDocker(sctx, o.docker, sbLog)
	cancel()
	if err != nil {
		return err
	}
	defer rt.Close()
	o.cfg.Runtime = rt
	o.reconcile.Reaper = rt
	var pool *sandbox.Pool
	if o.pool.MinIdle > 0 {
		pool = sandbox.NewPool(rt, sbLog)
		o.cfg.Runtime = pool
	}

	d, err := dispatcher.New(o.cfg, log)
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	var bg sync.WaitGroup
	bg.Go(func() { d.Reconcile(ctx, o.reconcile) })
	if pool != nil {
		bg.Go(func() { pool.Run(ctx, poolConfig(o, d.ID())) })
	}
	<-ctx.Done()
	bg.Wait()
	return d.Stop(context.WithoutCancel(ctx))
}

// poolConfig makes warm sandboxes the way the dispatcher would start them
// for a task of the default display size.
func poolConfig(o options, dispatcherID string) sandbox.PoolConfig {
	cfg := o.pool
	cfg.Spec = sandbox.Spec{NATSURL: o.cfg.NATSURL, SubjectPrefix: messages.NewSubjects(o.cfg.SubjectPrefix).Prefix(),
		Labels: map[string]string{"dispatcher": dispatcherID}}
	cfg.NewID = func() string { return "sb-" + strings.ToLower(rand.Text()[:12]) }
	return cfg
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("dispatcher", flag.ContinueOnError)
	fs.StringVar(&o.cfg.NATSURL, "nats-url", "", "NATS server URL (empty: embed a server)")
	fs.StringVar(&o.dataDir, "data-dir", "screenfleet-data", "JetStream store of the embedded server")
	fs.StringVar(&o.cfg.SubjectPrefix, "subject-prefix", messages.DefaultPrefix,
		"prefix of every NATS subject")
	fs.IntVar(&o.cfg.MaxSandboxes, "max-sandboxes", dispatcher.DefaultMaxSandboxes, "tasks run at once")
	fs.IntVar(&o.cfg.MaxAttempts, "max-attempts", dispatcher.DefaultMaxAttempts,
		"sandboxes a task gets before it fails for sandbox reasons")
	fs.DurationVar(&o.cfg.AssignTimeout, "assign-timeout", dispatcher.DefaultAssignTimeout,
		"bound on handing a task to a new sandbox's agent")
	fs.StringVar(&o.cfg.HTTPAddr, "http-addr", "127.0.0.1:9102",
		"address for /metrics, /healthz and /readyz (empty: none)")
	fs.StringVar(&o.cfg.ID, "id", "", "dispatcher id (default: host name and a random suffix)")
	fs.IntVar(&o.cfg.Replicas, "replicas", 1,
		"replicas of the task stream, dead letters, task bucket and recordings (3 on a 3-node NATS cluster)")
	fs.DurationVar(&o.cfg.AckWait, "ack-wait", dispatcher.DefaultAckWait,
		"after this long a dead dispatcher's tasks go to another (the same on every dispatcher)")
	fs.StringVar((*string)(&o.cfg.Recording.Mode), "record", string(recording.ModeTask),
		"which runs to record for replay: all, task (as each task's \"record\" field says) or off")
	fs.DurationVar(&o.cfg.Recording.MaxAge, "record-max-age", recording.DefaultMaxAge,
		"drop recorded frames older than this")
	fs.Int64Var(&o.cfg.Recording.MaxBytes, "record-max-bytes", recording.DefaultMaxBytes,
		"drop the oldest recorded frames beyond this many bytes")
	fs.StringVar(&o.runtime, "runtime", "process", "sandbox runtime: process or docker")
	fs.StringVar(&o.process.AgentdPath, "agentd", "",
		"process runtime: agentd binary (default: next to this one, else PATH)")
	fs.StringVar(&o.process.WorkRoot, "work-root", "",
		"process runtime: folder for the sandboxes' work dirs (default: temp dir)")
	dockerFlags(fs, &o)
	fs.StringVar(&o.logFormat, "log-format", logging.FormatAuto, "auto, json or console")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	o.tls.AddFlags(fs)
	o.auth.AddFlags(fs)
	err := ff.Parse(fs, args, ff.WithEnvVarPrefix("SF"))
	if err != nil {
		return o, err
	}
	if o.cfg.NATSOptions, err = o.tls.Options(); err != nil {
		return o, err
	}
	if err := agentAuth(&o); err != nil {
		return o, err
	}
	// The process runtime's agents read the same files, through SF_TLS_*.
	// Shortcoming: the docker runtime does not mount them into sandboxes.
	if o.tls.Enabled() {
		o.process.Env = append(o.process.Env, "SF_TLS_CA="+o.tls.CA, "SF_TLS_CERT="+o.tls.Cert,
			"SF_TLS_KEY="+o.tls.Key)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	// nats-server allows at most 5 replicas (StreamMaxReplicas).
	if o.cfg.Replicas < 1 || o.cfg.Replicas > 5 {
		return o, fmt.Errorf("--replicas %d: want 1 to 5", o.cfg.Replicas)
	}
	if o.runtime != "process" && o.runtime != "docker" {
		return o, fmt.Errorf("--runtime %q: want process or docker", o.runtime)
	}
	o.process.AgentLogFormat = "json" // agent logs go to a file in the sandbox's work dir
	return o, nil
}

// agentAuth loads the auth callout's secret and seed when its flags are
// set, and has both runtimes give each agent its own NATS user.
func agentAuth(o *options) error {
	if !o.auth.Enabled() {
		return nil
	}
	cfg, err := o.auth.Load()
	if err != nil {
		return err
	}
	cfg.Subjects = messages.NewSubjects(o.cfg.SubjectPrefix)
	o.authCfg = cfg
	creds := func(sandbox string) (string, string) { return sandbox, agentauth.Password(cfg.Secret, sandbox) }
	o.process.AgentAuth, o.docker.AgentAuth = creds, creds
	return nil
}

// dockerFlags declares the docker runtime's flags.
func dockerFlags(fs *flag.FlagSet, o *options) {
	d := &o.docker
	fs.StringVar(&d.Image, "image", sandbox.DefaultDockerImage, "docker runtime: sandbox image")
	fs.Var((*profileFlag)(&d.Profiles), "profile",
		"docker runtime: NAME=IMAGE, an image tasks may ask for with app.profile (repeatable)")
	fs.StringVar(&d.Network, "network", sandbox.DefaultDockerNetwork,
		"docker runtime: network the sandboxes join (created if missing)")
	fs.StringVar(&d.NATSURL, "sandbox-nats-url", "",
		"docker runtime: NATS URL as the sandboxes reach it on their network (default: --nats-url)")
	d.ShmSize, d.Memory = sandbox.DefaultShmSize, sandbox.DefaultMemory
	fs.Var((*byteSize)(&d.ShmSize), "shm-size", "docker runtime: /dev/shm of each sandbox, e.g. 1g")
	fs.Var((*byteSize)(&d.Memory), "memory",
		"docker runtime: memory limit of each sandbox, e.g. 2g (swap included)")
	fs.Float64Var(&d.CPUs, "cpus", sandbox.DefaultCPUs, "docker runtime: CPUs of each sandbox")
	fs.Int64Var(&d.PidsLimit, "pids-limit", sandbox.DefaultPidsLimit,
		"docker runtime: process and thread limit of each sandbox")
	fs.BoolVar(&d.VNC, "vnc", true, "docker runtime: run x11vnc in each sandbox, with a generated password")
	fs.StringVar(&d.VNCHostIP, "vnc-host-ip", "127.0.0.1",
		"docker runtime: host address the VNC ports are published on")
	fs.BoolVar(&d.VNCInput, "vnc-input", false,
		"docker runtime: let VNC viewers type and click (default: view only)")
	fs.DurationVar(&o.reconcile.Grace, "orphan-grace", dispatcher.DefaultOrphanGrace,
		"docker runtime: age under which a container no task owns is left alone")
	fs.DurationVar(&o.reconcile.Every, "reconcile-every", dispatcher.DefaultReconcileEvery,
		"docker runtime: pause between two passes over the containers no task owns")
	fs.IntVar(&o.pool.MinIdle, "min-idle", 0, "docker runtime: warm sandboxes kept started for the next tasks")
	fs.DurationVar(&o.pool.IdleTimeout, "idle-timeout", 0,
		"docker runtime: let the warm sandboxes go after no task came for this long (0: never)")
	fs.DurationVar(&o.pool.MaxLifetime, "max-lifetime", 30*time.Minute,
		"docker runtime: replace a warm sandbox older than this (0: never)")
}

// profileFlag reads repeated --profile NAME=IMAGE flags into a map.
type profileFlag map[string]string

func (p *profileFlag) String() string {
	if p == nil {
		return ""
	}
	pairs := make([]string, 0, len(*p))
	for _, name := range slices.Sorted(maps.Keys(*p)) {
		pairs = append(pairs, name+"="+(*p)[name])
	}
	return strings.Join(pairs, ",")
}

func (p *profileFlag) Set(v string) error {
	name, image, ok := strings.Cut(v, "=")
	if !ok || name == "" || image == "" {
		return fmt.Errorf("want NAME=IMAGE, got %q", v)
	}
	if err := messages.CheckToken("profile", name); err != nil {
		return err
	}
	if *p == nil {
		*p = map[string]string{}
	}
	(*p)[name] = image
	return nil
}
