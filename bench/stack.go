package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/inferd"
	"github.com/screenfleet/screenfleet/internal/kserve"
	"github.com/screenfleet/screenfleet/internal/natsembed"
	"github.com/screenfleet/screenfleet/internal/worker"
)

// gpu is one simulated GPU: an inferd serving the delay model, and the
// client a worker or the direct path calls it with.
type gpu struct {
	srv    *inferd.Server
	client *kserve.Client
}

func startGPU(ctx context.Context, delay inferd.DelayConfig) (*gpu, error) {
	srv, err := inferd.Start(ctx, inferd.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		OCRWorkers: 1,
		MaxBatch:   64, Delay: delay}, zerolog.Nop())
	if err != nil {
		return nil, fmt.Errorf("start inferd: %w", err)
	}
	c, err := kserve.Dial(ctx, srv.GRPCAddr())
	if err != nil {
		_ = srv.Stop()
		return nil, err
	}
	return &gpu{srv: srv, client: c}, nil
}

func (g *gpu) stop() {
	_ = g.client.Close()
	_ = g.srv.Stop()
}

// tier is W workers, each bound to its own simulated GPU.
type tier struct {
	gpus    []*gpu
	workers []*worker.Worker
}

// startTier starts n GPUs and workers and waits until every worker takes
// frames.
func startTier(ctx context.Context, natsURL string, n int, delay inferd.DelayConfig, batch int,
	wait time.Duration) (*tier, error) {
	t := &tier{}
	for i := range n {
		g, err := startGPU(ctx, delay)
		if err != nil {
			t.stop()
			return nil, err
		}
		t.gpus = append(t.gpus, g)
		w, err := worker.Start(ctx, worker.Config{NATSURL: natsURL, Models: []string{inferd.DelayModelName},
			GPU: fmt.Sprint(i), ID: fmt.Sprintf("bench-%d", i), MaxBatch: batch, MaxWait: wait,
			// Two calls per GPU: one running, one ready to go, as Triton
			// keeps its instance busy; the agents' frames wait in the worker,
			// where they can join a batch.
			MaxInFlight: 2, MaxQueued: 1024, ReadyInterval: 50 * time.Millisecond}, g.client, zerolog.Nop())
		if err != nil {
			t.stop()
			return nil, err
		}
		t.workers = append(t.workers, w)
	}
	for _, w := range t.workers {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := w.WaitReady(wctx)
		cancel()
		if err != nil {
			t.stop()
			return nil, err
		}
	}
	return t, nil
}

// meanBatch is the mean frames per backend call over all workers.
func (t *tier) meanBatch() float64 {
	var batches, frames float64
	for _, w := range t.workers {
		s := w.Status(inferd.DelayModelName)
		batches += float64(s.Batches)
		frames += float64(s.Batches) * s.MeanBatch
	}
	if batches == 0 {
		return 0
	}
	return frames / batches
}

func (t *tier) stop() {
	for _, w := range t.workers {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = w.Stop(ctx)
		cancel()
	}
	for _, g := range t.gpus {
		g.stop()
	}
}

// startNATS returns the URL to use and a stop function: the given server,
// or an embedded one in a temporary directory.
func startNATS(url string) (string, func(), error) {
	if url != "" {
		return url, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "sf-bench-nats")
	if err != nil {
		return "", nil, err
	}
	s, err := natsembed.Start(natsembed.Config{DataDir: dir, NoLog: true}, zerolog.Nop())
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	return s.ClientURL(), func() { s.Shutdown(); _ = os.RemoveAll(dir) }, nil
}
