package worker_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/screenfleet/screenfleet/internal/framestore"
	"github.com/screenfleet/screenfleet/internal/worker"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// C14: a frame over the server's max_payload arrives as a reference to the
// object store; the worker fetches its data, byte-identical (the store
// checks the SHA-256 digest), and serves it. A reference to an object that
// is not there gets a bad-frame reply naming it, at once.
func TestFrameByReferenceIsFetched(t *testing.T) {
	url := startNATS(t, func(o *server.Options) {
		o.MaxPayload, o.JetStream, o.StoreDir = 1<<20, true, t.TempDir()
	})
	nc := connect(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store := framestore.New(js)
	b := newFakeBackend(true)
	reg := prometheus.NewRegistry()
	w, _ := startWorker(t, worker.Config{NATSURL: url, Registry: reg, FullFrames: true}, b)
	waitReady(t, w)

	data := make([]byte, 8_294_400)
	_, _ = rand.Read(data)
	ref, err := store.Put(t.Context(), "sb1.1.1", data)
	if err != nil {
		t.Fatal(err)
	}
	frame := messages.Frame{V: messages.Version, Sandbox: "sb1", Seq: 1, Codec: messages.CodecPNG,
		Width: 1920, Height: 1080, Ref: ref}
	payload, err := messages.Encode(&frame)
	if err != nil {
		t.Fatal(err)
	}
	d, err := infer(nc, subjects.Infer("ocr", "sb1"), payload, 5*time.Second)
	if err != nil || d.Err() != nil {
		t.Fatalf("frame by reference: %v %v", err, d.Err())
	}
	if got, want := d.Boxes[0].Text, fmt.Sprintf("%d bytes", len(data)); got != want {
		t.Errorf("the backend saw %q, want %q", got, want)
	}
	if n := metricValue(t, reg, "sf_worker_frames_by_reference_total", nil); n != 1 {
		t.Errorf("sf_worker_frames_by_reference_total = %v, want 1", n)
	}

	frame.Seq, frame.Ref = 2, &messages.FrameRef{Bucket: messages.FramesBucket, Name: "gone", Size: 10}
	payload, err = messages.Encode(&frame)
	if err != nil {
		t.Fatal(err)
	}
	d, err = infer(nc, subjects.Infer("ocr", "sb1"), payload, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(d.Err(), messages.ErrBadFrame) || !strings.Contains(d.Error, "sf_frames/gone not found") {
		t.Errorf("missing object: reply %+v, want a bad frame naming sf_frames/gone", d)
	}
	if b.frames.Load() != 1 {
		t.Errorf("the backend saw %d frames, want 1", b.frames.Load())
	}
}

// C11: a frame that waited longer than MaxFrameAge for a backend slot is
// dropped with a retryable reply and counted, not served late: its agent
// has already sent a newer one.
func TestStaleFramesAreDropped(t *testing.T) {
	url := startNATS(t)
	nc := connect(t, url)
	b := newFakeBackend(true)
	b.release = make(chan struct{})
	reg := prometheus.NewRegistry()
	const maxAge = 200 * time.Millisecond
	w, _ := startWorker(t, worker.Config{NATSURL: url, MaxInFlight: 1, MaxBatch: 1, MaxFrameAge: maxAge,
		Registry: reg, FullFrames: true}, b)
	waitReady(t, w)

	served := requestAsync(t, nc, 1)
	waitFor(t, 5*time.Second, "one call in flight", func() bool { return b.inFlight.Load() == 1 })
	sent := time.Now()
	stale := requestAsync(t, nc, 1)
	// The subject of the test is age: hold the slot until the second frame
	// is older than the window.
	waitFor(t, 5*time.Second, "the queued frame to age", func() bool { return time.Since(sent) > 2*maxAge })
	close(b.release)
	if d := <-served; d.Status != messages.StatusOK {
		t.Fatalf("first frame: %+v", d)
	}
	d := <-stale
	if !errors.Is(d.Err(), messages.ErrBackendNotReady) || !strings.Contains(d.Error, "freshness window") {
		t.Fatalf("aged frame: %+v, want a retryable drop", d)
	}
	if n := metricValue(t, reg, "sf_worker_frames_total", map[string]string{"outcome": "stale"}); n != 1 {
		t.Errorf("stale frames counted %v, want 1", n)
	}
	if b.calls.Load() != 1 {
		t.Errorf("backend calls %d, want 1", b.calls.Load())
	}
}
