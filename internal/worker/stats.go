package worker

import (
	"slices"
	"sync"
	"time"
)

// latencyWindow is how many recent frame latencies the stats keep for their
// percentiles: enough for a stable p99, small enough to sort on request.
const latencyWindow = 1024

// modelStats are one model's counters for the NATS service's STATS
// endpoint: what `nats micro stats` shows next to its own counts.
type modelStats struct {
	mu        sync.Mutex
	frames    map[string]int64 // by outcome
	batches   int64
	batched   int64 // frames in those batches
	latencies []time.Duration
	next      int
}

func newModelStats() *modelStats {
	return &modelStats{frames: map[string]int64{}, latencies: make([]time.Duration, 0, latencyWindow)}
}

// record counts one answered frame; took is its time in the worker, from
// arrival to reply, for frames served.
func (s *modelStats) record(outcome string, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames[outcome]++
	if outcome != outcomeOK {
		return
	}
	if len(s.latencies) < latencyWindow {
		s.latencies = append(s.latencies, took)
		return
	}
	s.latencies[s.next] = took
	s.next = (s.next + 1) % latencyWindow
}

// batch counts one successful backend call of n frames.
func (s *modelStats) batch(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	s.batched += int64(n)
}

// StatsData is the data of one model's endpoint in the worker's NATS
// service stats. Latencies are over the last 1024 frames served.
type StatsData struct {
	Frames    map[string]int64 `json:"frames"`
	Batches   int64            `json:"batches"`
	MeanBatch float64          `json:"mean_batch"`
	P50Ms     float64          `json:"p50_ms"`
	P95Ms     float64          `json:"p95_ms"`
	P99Ms     float64          `json:"p99_ms"`
}

func (s *modelStats) snapshot() StatsData {
	s.mu.Lock()
	d := StatsData{Frames: make(map[string]int64, len(s.frames)), Batches: s.batches}
	for k, v := range s.frames {
		d.Frames[k] = v
	}
	lat := slices.Clone(s.latencies)
	if s.batches > 0 {
		d.MeanBatch = float64(s.batched) / float64(s.batches)
	}
	s.mu.Unlock()

	slices.Sort(lat)
	d.P50Ms, d.P95Ms, d.P99Ms = quantileMs(lat, 0.50), quantileMs(lat, 0.95), quantileMs(lat, 0.99)
	return d
}

func quantileMs(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(len(sorted)-1, int(q*float64(len(sorted))))
	return float64(sorted[i].Microseconds()) / 1000
}
