package worker_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/screenfleet/screenfleet/internal/worker"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Under concurrent load from several requesters on their own connections,
// frames are gathered into batches (one backend call for several frames, never
// more than MaxBatch) and every reply goes to its own requester with its own
// frame's boxes: each box echoes the bytes of the image it came from.
func TestBatchingKeepsRepliesWithRequesters(t *testing.T) {
	url := startNATS(t)
	b := newFakeBackend(true)
	b.echo, b.latency = true, 20*time.Millisecond
	reg := prometheus.NewRegistry()
	w, _ := startWorker(t, worker.Config{NATSURL: url, MaxInFlight: 2, MaxBatch: 8,
		MaxWait: 5 * time.Millisecond, MaxQueued: 1000, Registry: reg}, b)
	waitReady(t, w)

	const requesters, perRequester = 4, 60
	var wg sync.WaitGroup
	errs := make(chan error, requesters*perRequester)
	for r := range requesters {
		nc := connect(t, url)
		for i := range perRequester {
			wg.Go(func() { errs <- requestEcho(nc, r, i) })
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	frames, calls := b.frames.Load(), b.calls.Load()
	if frames != requesters*perRequester || calls >= frames/2 || b.maxBatch.Load() > 8 || b.maxSeen.Load() > 2 {
		t.Fatalf("%d frames in %d calls, largest batch %d, most calls at once %d: want batches of at most 8, "+
			"at most 2 calls at once", frames, calls, b.maxBatch.Load(), b.maxSeen.Load())
	}
	t.Logf("%d frames in %d backend calls", frames, calls)
}

// requestEcho sends requester r's frame i, whose image bytes name both, and
// checks the reply is that frame's.
func requestEcho(nc *nats.Conn, r, i int) error {
	want := fmt.Sprintf("requester %d frame %d", r, i)
	seq := uint64(r*1000 + i)
	frame, err := messages.Encode(messages.Frame{V: messages.Version, Sandbox: fmt.Sprintf("sb%d", r),
		Seq:   seq,
		Codec: messages.CodecPNG, Width: 64, Height: 32, Data: []byte(want)})
	if err != nil {
		return err
	}
	d, err := infer(nc, subjects.Infer("ocr", fmt.Sprintf("sb%d", r)), frame, 10*time.Second)
	if err != nil {
		return fmt.Errorf("%s: %w", want, err)
	}
	if d.Status != messages.StatusOK || d.Seq != seq || len(d.Boxes) != 1 || d.Boxes[0].Text != want {
		return fmt.Errorf("%s: got reply %+v", want, d)
	}
	return nil
}

// With batching off (MaxBatch 1) every frame is its own call.
func TestBatchOfOne(t *testing.T) {
	url := startNATS(t)
	nc := connect(t, url)
	b := newFakeBackend(true)
	b.echo, b.latency = true, 10*time.Millisecond
	w, _ := startWorker(t, worker.Config{NATSURL: url, MaxInFlight: 2, MaxBatch: 1, MaxQueued: 100}, b)
	waitReady(t, w)

	echoConcurrently(t, nc, 20)
	if b.maxBatch.Load() != 1 || b.calls.Load() != 20 {
		t.Fatalf("largest batch %d in %d calls, want 20 calls of 1", b.maxBatch.Load(), b.calls.Load())
	}
}

// C09: a backend whose engine really takes batches of 1 while its config
// says more rejects a batch as INVALID_ARGUMENT; the worker splits the batch,
// serves every frame, counts the split, and sends smaller batches after.
func TestInvalidBatchIsSplit(t *testing.T) {
	url := startNATS(t)
	nc := connect(t, url)
	b := newFakeBackend(true)
	b.echo, b.latency, b.maxReal = true, 20*time.Millisecond, 1
	reg := prometheus.NewRegistry()
	w, _ := startWorker(t, worker.Config{NATSURL: url, MaxInFlight: 1, MaxQueued: 100, Registry: reg}, b)
	waitReady(t, w)

	echoConcurrently(t, nc, 12)
	splits := metricValue(t, reg, "sf_worker_batch_splits_total", nil)
	if splits == 0 || b.frames.Load() != 12 {
		t.Fatalf("splits %v, frames served %d: want batches split and all 12 served", splits, b.frames.Load())
	}
	// Each split halves the cap (8, 4, 2, 1): after at most three, batches
	// fit and nothing more is rejected.
	echoConcurrently(t, nc, 12)
	if got := metricValue(t, reg, "sf_worker_batch_splits_total",
		nil); got > 3 || w.Status("ocr").MaxBatch != 1 {
		t.Fatalf("%v splits in all: the worker did not learn the backend's real batch size", got)
	}
}

// echoConcurrently sends n frames at once from one requester and checks
// each reply is its own.
func echoConcurrently(t *testing.T, nc *nats.Conn, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := requestEcho(nc, 0, i); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
