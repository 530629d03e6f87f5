package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/screenfleet/screenfleet/internal/worker"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// startNATS runs an embedded NATS server on a random port until the test
// ends, with the options tweak sets.
func startNATS(t *testing.T, tweak ...func(*server.Options)) string {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true}
	for _, f := range tweak {
		f(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s.ClientURL()
}

// connect returns a requester's connection, closed when the test ends.
func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// fakeBackend is a Backend whose readiness, latency and errors a test sets.
// It records the most calls it ever had in flight.
type fakeBackend struct {
	ready    atomic.Bool
	down     string // a model never ready, set before use
	latency  time.Duration
	release  chan struct{} // when set, calls wait for it to close
	err      atomic.Pointer[error]
	probes   atomic.Int64
	inFlight atomic.Int64
	maxSeen  atomic.Int64
	calls    atomic.Int64
	frames   atomic.Int64 // images over all calls
	maxBatch atomic.Int64
	echo     bool // each box's text is its image's bytes, set before use
	maxReal  int  // when set, batches larger than this fail as invalid (C09)
}

func newFakeBackend(ready bool) *fakeBackend {
	b := &fakeBackend{}
	b.ready.Store(ready)
	return b
}

func (b *fakeBackend) Ready(_ context.Context, model string) error {
	b.probes.Add(1)
	if !b.ready.Load() || model == b.down {
		return status.Errorf(codes.Unavailable, "model %q is not ready", model)
	}
	return nil
}

func (b *fakeBackend) InferBoxes(ctx context.Context, _ string, images [][]byte,
) ([][]messages.Box, error) {
	b.calls.Add(1)
	if b.maxReal > 0 && len(images) > b.maxReal {
		return nil, status.Errorf(codes.InvalidArgument, "dimension 0 to be between 1 and %d but received %d",
			b.maxReal, len(images))
	}
	b.frames.Add(int64(len(images)))
	storeMax(&b.maxBatch, int64(len(images)))
	n := b.inFlight.Add(1)
	defer b.inFlight.Add(-1)
	storeMax(&b.maxSeen, n)
	if err := b.wait(ctx); err != nil {
		return nil, err
	}
	if e := b.err.Load(); e != nil {
		return nil, *e
	}
	out := make([][]messages.Box, len(images))
	for i, img := range images {
		text := fmt.Sprintf("%d bytes", len(img))
		if b.echo {
			text = string(img)
		}
		out[i] = []messages.Box{{X: 1, Y: 2, W: 3, H: 4, Text: text, Conf: 0.9}}
	}
	return out, nil
}

// storeMax raises v to n if n is larger.
func storeMax(v *atomic.Int64, n int64) {
	for seen := v.Load(); n > seen && !v.CompareAndSwap(seen, n); seen = v.Load() {
	}
}

func (b *fakeBackend) wait(ctx context.Context) error {
	var timer <-chan time.Time
	if b.latency > 0 {
		timer = time.After(b.latency)
	}
	switch {
	case b.release != nil:
		select {
		case <-b.release:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	case timer != nil:
		select {
		case <-timer:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	return nil
}

func (b *fakeBackend) fail(err error) { b.err.Store(&err) }

// logBuffer collects a worker's JSON log lines, safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// count returns how many lines carry "event":event.
func (l *logBuffer) count(event string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), fmt.Sprintf(`"event":%q`, event))
}

// startWorker starts a worker on url with fast readiness polling and stops it
// when the test ends.
func startWorker(t *testing.T, cfg worker.Config, b worker.Backend) (*worker.Worker, *logBuffer) {
	t.Helper()
	if cfg.ReadyInterval == 0 {
		cfg.ReadyInterval = 20 * time.Millisecond
	}
	if cfg.ID == "" {
		cfg.ID = "w1"
	}
	logs := &logBuffer{}
	w, err := worker.Start(t.Context(), cfg, b, zerolog.New(logs))
	if err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Stop(ctx); err != nil {
			t.Errorf("stop worker: %v", err)
		}
	})
	return w, logs
}

func waitReady(t *testing.T, w *worker.Worker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := w.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testFrame returns an encoded valid frame of 3 bytes of data.
func testFrame(t *testing.T, seq uint64) []byte {
	t.Helper()
	data, err := messages.Encode(messages.Frame{V: messages.Version, Sandbox: "sb1", Seq: seq,
		Codec: messages.CodecPNG, Width: 64, Height: 32, Data: []byte("img")})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// infer sends one frame payload and decodes the reply.
func infer(nc *nats.Conn, subj string, payload []byte, timeout time.Duration) (messages.Detections, error) {
	var d messages.Detections
	msg, err := nc.Request(subj, payload, timeout)
	if err != nil {
		return d, err
	}
	return d, messages.Decode(msg.Data, &d)
}
