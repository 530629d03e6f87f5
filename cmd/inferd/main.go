// Command inferd is screenfleet's CPU inference server. It serves the
// built-in screen models ("ocr" with Tesseract; "elements", UI element
// detection, and "elements_yolo", the same in YOLOv8 tensor form; "delay", a
// stand-in for a GPU, when --delay-base or --delay-per-item is set) over the
// KServe v2 / Triton gRPC protocol, and /metrics, /healthz and /readyz over
// HTTP.
//
// Every flag can also be set through the environment: --grpc-addr is
// SF_GRPC_ADDR, --ocr-workers is SF_OCR_WORKERS, and so on.
//
// Tesseract's OpenMP threads make OCR three to four times slower when one
// engine runs per core, and libgomp reads OMP_THREAD_LIMIT only when the
// process starts (os.Setenv in main is too late). So when OMP_THREAD_LIMIT
// is not set, inferd re-executes itself with OMP_THREAD_LIMIT=1 added to its
// environment; set it yourself to choose another value.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/screenfleet/screenfleet/internal/daemon"
	"github.com/screenfleet/screenfleet/internal/inferd"
	"github.com/screenfleet/screenfleet/internal/ocr"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if err := ocr.ReexecWithThreadLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "inferd:", err)
		return daemon.ExitFail
	}
	cfg, logs, err := parseFlags(args)
	if code, done := daemon.UsageExit("inferd", err, os.Stderr); done {
		return code
	}
	log := logs.Logger("inferd")
	log.Info().Str("event", "starting").Str("version", cfg.Version).
		Str("omp_thread_limit", os.Getenv(ocr.ThreadLimitEnv)).Msg("inferd starting")
	return daemon.Run(log, func(ctx context.Context) error { return inferd.Run(ctx, cfg, log) })
}

// parseFlags reads flags, then SF_-prefixed environment variables for the
// flags not given.
func parseFlags(args []string) (cfg inferd.Config, logs daemon.Logging, err error) {
	fs := flag.NewFlagSet("inferd", flag.ContinueOnError)
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:8001",
		"address of the KServe v2 gRPC service (Triton's port is 8001)")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:9101", "address of /metrics, /healthz and /readyz")
	fs.IntVar(&cfg.OCRWorkers, "ocr-workers", 0, "Tesseract engines, each using one core (0: one per CPU)")
	fs.IntVar(&cfg.MaxBatch, "max-batch", inferd.DefaultMaxBatch, "largest batch of images per request")
	fs.DurationVar(&cfg.Delay.Base, "delay-base", 0,
		`serve model "delay": per-batch service time base + per_item * sqrt(batch) (0: not served)`)
	fs.DurationVar(&cfg.Delay.PerItem, "delay-per-item", 0,
		`the "delay" model's per-item time (see --delay-base)`)
	fs.DurationVar(&cfg.StopTimeout, "stop-timeout", inferd.DefaultStopTimeout,
		"how long requests in flight may finish on stop")
	logs.AddFlags(fs)
	if err := daemon.Parse(fs, args); err != nil {
		return cfg, logs, err
	}
	cfg.Version = version()
	return cfg, logs, nil
}

// version is the main module's version from the build, "(devel)" for a
// build from a work tree.
func version() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "unknown"
}
