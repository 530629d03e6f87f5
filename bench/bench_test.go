package main

import (
	"testing"
	"time"
)

// The benchmark runs end to end on a tiny configuration, so `make bench`
// does not rot between runs.
func TestBenchRunsSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts NATS, inferd and workers")
	}
	args := []string{"-workers", "1,2", "-agents", "4", "-duration", "300ms", "-warmup", "50ms",
		"-latency-duration", "300ms", "-base", "5ms", "-per-item", "1ms", "-latency-base", "2ms", "-frame-kb", "20"}
	start := time.Now()
	if code := run(args); code != 0 {
		t.Fatalf("bench exited %d", code)
	}
	t.Logf("took %s", time.Since(start))
}

func TestResultQuantiles(t *testing.T) {
	r := result{done: 4, elapsed: 2 * time.Second}
	r = r.merge(result{done: 0, latencies: []time.Duration{4, 1, 3, 2}})
	if r.quantile(0.5) != 3 || r.quantile(0.99) != 4 || r.throughput() != 2 || r.elapsed != 2*time.Second {
		t.Fatalf("result %+v: p50 %v p99 %v", r, r.quantile(0.5), r.quantile(0.99))
	}
}
