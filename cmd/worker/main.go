// Command worker answers inference requests from screenfleet agents with one
// KServe v2 backend: Triton on a GPU (--gpu names it: an index or a device
// UUID), or inferd on the CPU. It batches frames dynamically (--max-batch,
// --max-wait), serves boxes models and YOLOv8 tensor models (--adapter,
// --labels, --yolo-*), and registers as the NATS service sf-worker.
//
// Every flag can also be set from the environment with the SF_ prefix, e.g.
// SF_NATS_URL or SF_GPU.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/screenfleet/screenfleet/internal/daemon"
	"github.com/screenfleet/screenfleet/internal/natsconn"
	"github.com/screenfleet/screenfleet/internal/worker"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

func main() { os.Exit(run(os.Args[1:])) }

type options struct {
	cfg      worker.Config
	models   string
	adapters string
	labels   string
	score    float64
	iou      float64
	log      daemon.Logging
	tls      natsconn.TLS
}

func run(args []string) int {
	opts, err := parseFlags(args)
	if code, done := daemon.UsageExit("worker", err, os.Stderr); done {
		return code
	}
	log := opts.log.Logger("worker")
	return daemon.Run(log, func(ctx context.Context) error { return worker.Run(ctx, opts.cfg, log) })
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.StringVar(&o.cfg.NATSURL, "nats-url", nats.DefaultURL, "NATS server URL")
	fs.StringVar(&o.cfg.BackendAddr, "backend", worker.DefaultBackendAddr,
		"KServe v2 gRPC address of Triton or inferd; {gpu} stands for --gpu (e.g. triton-gpu{gpu}:8001)")
	fs.StringVar(&o.models, "models", messages.DefaultModel, "comma-separated models to serve")
	fs.StringVar(&o.cfg.GPU, "gpu", worker.DefaultGPU, `device behind the backend: "cpu", an index or a UUID`)
	fs.StringVar(&o.cfg.ID, "id", "", "worker id (default host-gpu-pid)")
	fs.IntVar(&o.cfg.MaxInFlight, "max-in-flight", 0, "concurrent backend calls (default 2 x CPUs)")
	batchFlags(fs, &o)
	fs.DurationVar(&o.cfg.RequestTimeout, "request-timeout", worker.DefaultRequestTimeout,
		"bound on one backend call")
	fs.DurationVar(&o.cfg.MaxFrameAge, "max-frame-age", worker.DefaultMaxFrameAge,
		"frames that waited longer than this for the backend are dropped, newest wins")
	fs.StringVar(&o.cfg.SubjectPrefix, "subject-prefix", messages.DefaultPrefix, "subject prefix")
	fs.StringVar(&o.cfg.HTTPAddr, "http-addr", worker.DefaultHTTPAddr,
		"address for /metrics, /healthz and /readyz (empty: none)")
	o.log.AddFlags(fs)
	o.tls.AddFlags(fs)
	err := daemon.Parse(fs, args)
	if err != nil {
		return o, err
	}
	if o.cfg.NATSOptions, err = o.tls.Options(); err != nil {
		return o, err
	}
	o.cfg.Models = splitList(o.models)
	o.cfg.YOLO.ScoreThreshold, o.cfg.YOLO.IoUThreshold = float32(o.score), float32(o.iou)
	if o.cfg.Adapters, err = splitPairs(o.adapters); err != nil {
		return o, fmt.Errorf("--adapter: %w", err)
	}
	if o.cfg.Labels, err = splitPairs(o.labels); err != nil {
		return o, fmt.Errorf("--labels: %w", err)
	}
	return o, nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// batchFlags declares the flags of batching and of the model adapters.
func batchFlags(fs *flag.FlagSet, o *options) {
	fs.IntVar(&o.cfg.MaxBatch, "max-batch", worker.DefaultMaxBatch,
		"most frames per backend call (1: no batching; the model's max_batch_size caps it)")
	fs.DurationVar(&o.cfg.MaxWait, "max-wait", worker.DefaultMaxWait,
		"how long a batch's first frame may wait for more (negative: never)")
	fs.IntVar(&o.cfg.MaxQueued, "max-queued", 0, "frames waiting per model beyond the batches in flight "+
		"before new ones are refused (default max(4 x max-in-flight, 2 x max-batch))")
	fs.BoolVar(&o.cfg.FullFrames, "full-frames", false, "send boxes models every frame whole "+
		"(default: per sandbox, only the bands that changed since its last frame are recognised)")
	fs.StringVar(&o.adapters, "adapter", "", "model=auto|boxes|yolo,... (default auto: from model metadata)")
	fs.StringVar(&o.labels, "labels", "", "model=FILE,...: class names of YOLO models, one per line")
	fs.Float64Var(&o.score, "yolo-score", 0.25, "YOLO score threshold")
	fs.Float64Var(&o.iou, "yolo-iou", 0.5, "YOLO NMS IoU threshold")
	fs.BoolVar(&o.cfg.YOLO.Area, "yolo-area", false,
		"letterbox shrinking frames by averaging (keeps 1 px outlines) instead of Ultralytics' bilinear")
	fs.BoolVar(&o.cfg.YOLO.PerClass, "yolo-per-class-nms", false,
		"NMS per class (default class-agnostic: one box per UI element)")
}

// splitPairs reads "k=v,k=v" into a map.
func splitPairs(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range splitList(s) {
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q: want model=value", part)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}
