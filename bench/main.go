// Command bench measures the inference tier: agents sending frames through
// NATS to 1, 2 and 4 workers (each bound to its own backend, an inferd
// serving the "delay" model, which stands in for a GPU: one batch at a time,
// base + per_item * sqrt(batch) per batch), with batching off and on, and
// the same frames sent straight to the backend over gRPC, for the cost of
// the NATS path. It prints one table; `make bench` runs it.
//
// Agents run closed-loop: each sends its next frame when the reply to the
// last one arrives, as an agent waits for detections before it acts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() { os.Exit(run(os.Args[1:])) }

// options are the benchmark's knobs.
type options struct {
	duration  time.Duration
	warmup    time.Duration
	agents    int
	frameKB   int
	frames    string
	base      time.Duration
	perItem   time.Duration
	latBase   time.Duration
	workers   []int
	maxBatch  int
	maxWait   time.Duration
	natsURL   string
	directRun time.Duration
	verbose   bool
}

func parseFlags(args []string) (options, error) {
	var o options
	var workers string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 4*time.Second, "measured time per scaling row")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "load before measuring, per row")
	fs.IntVar(&o.agents, "agents", 96, "simulated agents in the scaling rows")
	fs.IntVar(&o.frameKB, "frame-kb", 300, "size of the synthetic PNG frames, in KB")
	fs.StringVar(&o.frames, "frames", "", "directory of recorded PNG frames to play instead")
	fs.DurationVar(&o.base, "base", 160*time.Millisecond, "delay model: per-batch base time")
	fs.DurationVar(&o.perItem, "per-item", 40*time.Millisecond, "delay model: per-item time (x sqrt(batch))")
	fs.DurationVar(&o.latBase, "latency-base", 10*time.Millisecond,
		"delay model base time for the NATS-vs-direct latency rows (one agent)")
	fs.StringVar(&workers, "workers", "1,2,4", "worker counts to measure")
	fs.IntVar(&o.maxBatch, "max-batch", 8, "the workers' max batch when batching")
	fs.DurationVar(&o.maxWait, "max-wait", 2*time.Millisecond, "the workers' max wait when batching")
	fs.StringVar(&o.natsURL, "nats-url", "", "NATS server to use (default: an embedded one)")
	fs.DurationVar(&o.directRun, "latency-duration", 5*time.Second, "measured time per latency row")
	fs.BoolVar(&o.verbose, "v", false, "print each worker's own counts and latency after each row")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, s := range strings.Split(workers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-workers: %q is not a count", s)
		}
		o.workers = append(o.workers, n)
	}
	return o, nil
}

func run(args []string) int {
	o, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}
