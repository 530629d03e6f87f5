package worker_test

import (
	"context"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/screenfleet/screenfleet/internal/kserve"
	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/internal/worker"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// v2Server is a KServe v2 gRPC server with one boxes model, as C11 asks of
// a fake: the model is not ready until readyAt; ModelInfer serves at most
// capacity calls at once, each taking latency, queues up to queueMax more,
// and answers UNAVAILABLE beyond that.
type v2Server struct {
	pb.UnimplementedGRPCInferenceServiceServer
	readyAt  time.Time
	latency  time.Duration
	queueMax int64
	slots    chan struct{}

	waiting, inFlight, maxInFlight, served, unavailable atomic.Int64
}

func startV2Server(t *testing.T, s *v2Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	pb.RegisterGRPCInferenceServiceServer(g, s)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

func (s *v2Server) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return &pb.ServerReadyResponse{Ready: true}, nil
}

func (s *v2Server) ModelReady(context.Context, *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	return &pb.ModelReadyResponse{Ready: time.Now().After(s.readyAt)}, nil
}

func (s *v2Server) ModelConfig(_ context.Context, req *pb.ModelConfigRequest,
) (*pb.ModelConfigResponse, error) {
	return &pb.ModelConfigResponse{Config: &pb.ModelConfig{Name: req.GetName(), MaxBatchSize: 1}}, nil
}

func (s *v2Server) ModelMetadata(_ context.Context, req *pb.ModelMetadataRequest,
) (*pb.ModelMetadataResponse, error) {
	return &pb.ModelMetadataResponse{Name: req.GetName(), Platform: kserve.PlatformBoxes}, nil
}

func (s *v2Server) ModelInfer(ctx context.Context, req *pb.ModelInferRequest,
) (*pb.ModelInferResponse, error) {
	images, err := kserve.DecodeBoxesRequest(req, 1)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if !time.Now().After(s.readyAt) {
		return nil, status.Error(codes.Unavailable, "model is not at ready state")
	}
	if s.waiting.Add(1) > s.queueMax+int64(cap(s.slots)) {
		s.waiting.Add(-1)
		s.unavailable.Add(1)
		return nil, status.Error(codes.Unavailable, "exceeds maximum queue size")
	}
	defer s.waiting.Add(-1)
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	defer func() { <-s.slots }()
	storeMax(&s.maxInFlight, s.inFlight.Add(1))
	defer s.inFlight.Add(-1)
	timer := time.NewTimer(s.latency)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	s.served.Add(int64(len(images)))
	boxes := [][]messages.Box{{{W: 1, H: 1, Text: "ok", Conf: 1}}}
	return kserve.NewBoxesResponse(req.GetModelName(), req.GetId(), boxes)
}

// C11(a): the model answers "not ready" for 3 s after the server is up.
// The worker takes no frames meanwhile (requests fail fast as no
// responders, not as timeouts) and serves within a second of the model
// becoming ready.
func TestModelNotReadyThenReady(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 3 s for the model to become ready")
	}
	srv := &v2Server{readyAt: time.Now().Add(3 * time.Second), latency: 10 * time.Millisecond, queueMax: 8,
		slots: make(chan struct{}, 4)}
	addr := startV2Server(t, srv)
	backend, err := kserve.Dial(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Close() })
	url := startNATS(t)
	nc := connect(t, url)
	w, _ := startWorker(t, worker.Config{NATSURL: url, FullFrames: true}, backend)

	start := time.Now()
	_, err = nc.Request(subjects.Infer("ocr", "sb1"), testFrame(t, 1), time.Second)
	if !strings.Contains(errString(err), "no responders") || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("before the model is ready: %v after %s, want no responders at once", err, time.Since(start))
	}
	if w.Ready() {
		t.Fatal("worker ready while the model is not")
	}
	ctx, cancel := context.WithDeadline(t.Context(), srv.readyAt.Add(time.Second))
	defer cancel()
	if err := w.WaitReady(ctx); err != nil {
		t.Fatalf("not serving within 1 s of the model becoming ready: %v", err)
	}
	assertOK(t, nc, 2)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// C11(b): a backend with capacity 4, 300 ms per call, and UNAVAILABLE
// beyond a queue of 8. 1000 frames arrive in 2 s. The worker never has
// more than 4 calls in the backend; every frame is answered, served or
// counted as dropped (overloaded or stale in the worker's metrics, or no
// responders while the full worker is out of the queue group); the
// worker's goroutines go back to their baseline; a fresh frame afterwards
// is served within 1 s.
func TestBurstAgainstBoundedBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("a 2 s burst of 1000 frames")
	}
	srv := &v2Server{latency: 300 * time.Millisecond, queueMax: 8, slots: make(chan struct{}, 4)}
	addr := startV2Server(t, srv)
	backend, err := kserve.Dial(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Close() })
	url := startNATS(t)
	nc := connect(t, url)
	reg := prometheus.NewRegistry()
	w, _ := startWorker(t, worker.Config{NATSURL: url, MaxInFlight: 4, MaxBatch: 1, Registry: reg,
		FullFrames: true}, backend)
	waitReady(t, w)
	assertOK(t, nc, 1000) // warm the gRPC connection before the baseline
	baseline := runtime.NumGoroutine()

	const n = 1000
	replies := smallBurst(t, nc, n, 2*time.Second)
	count := map[string]int{}
	for i := range n {
		select {
		case d := <-replies:
			switch {
			case d.Status == messages.StatusOK, d.Status == noResponders:
				count[d.Status]++
			case strings.Contains(d.Error, "overloaded"):
				count["overloaded"]++
			case strings.Contains(d.Error, "freshness window"):
				count["stale"]++
			default:
				t.Fatalf("reply %+v, want ok, overloaded, stale or no responders", d)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("got %d of %d replies: %v", i, n, count)
		}
	}
	t.Logf("1000 frames in 2 s: %v; backend served %d, max in flight %d, unavailable %d", count,
		srv.served.Load(), srv.maxInFlight.Load(), srv.unavailable.Load())
	metric := func(o string) int {
		return int(metricValue(t, reg, "sf_worker_frames_total", map[string]string{"outcome": o}))
	}
	switch {
	case srv.maxInFlight.Load() > 4:
		t.Errorf("backend saw %d calls at once, the cap is 4", srv.maxInFlight.Load())
	case count[messages.StatusOK] != metric("ok")-1: // the warm-up frame
		t.Errorf("%d served, counted %d", count[messages.StatusOK], metric("ok")-1)
	case count["overloaded"] != metric("overloaded") || count["stale"] != metric("stale"):
		t.Errorf("dropped %v, counted overloaded %d, stale %d", count, metric("overloaded"), metric("stale"))
	case srv.unavailable.Load() != 0:
		t.Errorf("the worker overran the backend's queue %d times", srv.unavailable.Load())
	}
	waitFor(t, 10*time.Second, "goroutines back to baseline", func() bool {
		return runtime.NumGoroutine() <= baseline+2
	})
	waitReady(t, w)
	start := time.Now()
	assertOK(t, nc, 2000)
	if took := time.Since(start); took > time.Second {
		t.Errorf("a fresh frame after the burst took %s", took)
	}
}

// smallBurst publishes n small frames evenly over d with one reply inbox;
// the replies arrive on the channel.
func smallBurst(t *testing.T, nc *nats.Conn, n int, d time.Duration) <-chan messages.Detections {
	t.Helper()
	replies := make(chan messages.Detections, n)
	inbox := nats.NewInbox()
	sub, err := nc.Subscribe(inbox, func(m *nats.Msg) {
		var det messages.Detections
		if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
			det.Status = noResponders
		} else {
			_ = messages.Decode(m.Data, &det)
		}
		replies <- det
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	tick := time.NewTicker(d / time.Duration(n))
	defer tick.Stop()
	for i := range n {
		if err := nc.PublishRequest(subjects.Infer("ocr", "sb1"), inbox, testFrame(t, uint64(i))); err != nil {
			t.Fatal(err)
		}
		<-tick.C
	}
	return replies
}
