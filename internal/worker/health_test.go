package worker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/inferd"
	"github.com/screenfleet/screenfleet/internal/worker"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// startDelayInferd runs an inferd serving the delay model at addr (a free
// port when empty) and returns it.
func startDelayInferd(t *testing.T, addr string, delay time.Duration) *inferd.Server {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	srv, err := inferd.Start(t.Context(), inferd.Config{GRPCAddr: addr, HTTPAddr: "127.0.0.1:0", OCRWorkers: 1,
		StopTimeout: 50 * time.Millisecond, Delay: inferd.DelayConfig{Base: delay}}, zerolog.Nop())
	if err != nil {
		t.Fatalf("start inferd: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

// delayFrame is a valid frame for the delay model (a real PNG).
func delayFrame(t *testing.T, seq uint64) []byte {
	t.Helper()
	frame, err := messages.Encode(messages.Frame{V: messages.Version, Sandbox: "sb1", Seq: seq,
		Codec: messages.CodecPNG, Width: 8, Height: 8, Data: tinyPNG})
	if err != nil {
		t.Fatal(err)
	}
	return frame
}

// tinyPNG is a 1x1 PNG.
var tinyPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f" +
	"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")

// A worker whose backend is stopped fails the frame it had in flight with a
// code the agent retries elsewhere, stops taking frames (no responders,
// at once), and takes frames again when a backend is back on the address.
func TestBackendStoppedStopsAndResumes(t *testing.T) {
	url := startNATS(t)
	nc := connect(t, url)
	srv := startDelayInferd(t, "", time.Second)
	addr := srv.GRPCAddr()
	w, logs := startWorker(t, worker.Config{NATSURL: url, Models: []string{inferd.DelayModelName}},
		dial(t, addr))
	waitReady(t, w)
	subj := subjects.Infer(inferd.DelayModelName, "sb1")

	inFlight := make(chan messages.Detections, 1)
	go func() {
		d, _ := infer(nc, subj, delayFrame(t, 1), 10*time.Second)
		inFlight <- d
	}()
	waitFor(t, 5*time.Second, "a frame in flight", func() bool {
		return w.Ready() && logs.count("worker_ready") == 1 && w.InFlight() == 1
	})
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if d := <-inFlight; !errors.Is(d.Err(), messages.ErrBackendNotReady) {
		t.Fatalf("in-flight frame's reply = %+v, want a retryable backend-not-ready error", d)
	}
	waitFor(t, 5*time.Second, "worker not ready", func() bool { return !w.Ready() })
	if _, err := infer(nc, subj, delayFrame(t, 2), 5*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request while the backend is down: %v, want no responders", err)
	}

	startDelayInferd(t, addr, time.Millisecond)
	waitReady(t, w)
	d, err := infer(nc, subj, delayFrame(t, 3), 5*time.Second)
	if err != nil || d.Status != messages.StatusOK || d.Seq != 3 {
		t.Fatalf("after the backend came back: %+v, %v", d, err)
	}
}

// Two workers in one queue group share the frames with no configuration:
// each serves a fair part of them.
func TestTwoWorkersShareLoad(t *testing.T) {
	url := startNATS(t)
	nc := connect(t, url)
	b1, b2 := newFakeBackend(true), newFakeBackend(true)
	b1.latency, b2.latency = 2*time.Millisecond, 2*time.Millisecond
	w1, _ := startWorker(t, worker.Config{NATSURL: url, ID: "w1"}, b1)
	w2, _ := startWorker(t, worker.Config{NATSURL: url, ID: "w2"}, b2)
	waitReady(t, w1)
	waitReady(t, w2)

	const n = 200
	by := map[string]int{}
	for i := range n {
		d := assertOK(t, nc, uint64(i))
		by[d.Worker]++
	}
	// Queue groups pick a member at random: with 200 frames each worker gets
	// 100 +- 7 (one standard deviation); below 60 is a broken share.
	if by["w1"] < 60 || by["w2"] < 60 || by["w1"]+by["w2"] != n {
		t.Fatalf("frames by worker %v, want each a fair share of %d", by, n)
	}
	if b1.frames.Load() != int64(by["w1"]) || b2.frames.Load() != int64(by["w2"]) {
		t.Fatalf("backends saw %d and %d frames, replies say %v", b1.frames.Load(), b2.frames.Load(), by)
	}
}

// A full worker leaves the queue group, so the frames go to the worker that
// has room instead of being refused, and it comes back once it has room.
func TestFullWorkerStopsTakingFrames(t *testing.T) {
	url := startNATS(t)
	nc := connect(t, url)
	stuck, free := newFakeBackend(true), newFakeBackend(true)
	stuck.release = make(chan struct{})
	reg := prometheus.NewRegistry()
	full, logs := startWorker(t, worker.Config{NATSURL: url, ID: "full", MaxInFlight: 1, MaxBatch: 1,
		MaxQueued: 1, Registry: reg}, stuck)
	other, _ := startWorker(t, worker.Config{NATSURL: url, ID: "other"}, free)
	waitReady(t, full)
	waitReady(t, other)

	// Frames until the stuck worker holds two (one in the backend, one
	// waiting) and refuses a third: then it is out of the group.
	waitFor(t, 5*time.Second, "the stuck worker full", func() bool {
		if !full.Ready() {
			return true
		}
		requestAsync(t, nc, 1)
		return false
	})
	for i := range 20 {
		if d := assertOK(t, nc, uint64(100+i)); d.Worker != "other" {
			t.Fatalf("frame %d served by %s while it was full", i, d.Worker)
		}
	}
	if logs.count("worker_full") != 1 || metricValue(t, reg, "sf_worker_full_total", nil) != 1 {
		t.Fatalf("worker_full logged %d times", logs.count("worker_full"))
	}

	close(stuck.release)
	waitReady(t, full)
	waitFor(t, 5*time.Second, "the worker serving again", func() bool {
		return assertOK(t, nc, 200).Worker == "full"
	})
}

// A replay can address one worker by name beside the queue group; the
// frame reaches that worker every time.
func TestNamedWorkerReachedDirectly(t *testing.T) {
	url := startNATS(t)
	nc := connect(t, url)
	w1, _ := startWorker(t, worker.Config{NATSURL: url, ID: "w1"}, newFakeBackend(true))
	w2, _ := startWorker(t, worker.Config{NATSURL: url, ID: "w2"}, newFakeBackend(true))
	waitReady(t, w1)
	waitReady(t, w2)
	for i := range 20 {
		d, err := infer(nc, subjects.InferDirect("w2", "ocr", "sb1"), testFrame(t, uint64(i)), 5*time.Second)
		if err != nil {
			t.Fatalf("direct request: %v", err)
		}
		if d.Worker != "w2" || d.Status != messages.StatusOK {
			t.Fatalf("frame %d: reply %+v, want ok from w2", i, d)
		}
	}
	if _, err := infer(nc, subjects.InferDirect("w9", "ocr", "sb1"), testFrame(t, 99),
		time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("unknown worker: err = %v, want no responders", err)
	}
}
