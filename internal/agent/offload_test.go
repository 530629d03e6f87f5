package agent

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"github.com/screenfleet/screenfleet/internal/framestore"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// startJSServer runs a NATS server with JetStream, a store in a temp
// directory and the given max_payload.
func startJSServer(t *testing.T, maxPayload int32) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		MaxPayload: maxPayload, JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// encodedFrame returns a frame whose msgpack encoding is exactly size bytes,
// with random data, and that encoding.
func encodedFrame(t *testing.T, seq uint64, size int) (messages.Frame, []byte) {
	t.Helper()
	f := messages.Frame{V: messages.Version, Sandbox: "sb-test", Seq: seq, CapturedAt: time.Now().UnixNano(),
		Codec: messages.CodecPNG, Width: 1920, Height: 1080, Scale: 1, Data: make([]byte, size-256)}
	probe, err := messages.Encode(&f)
	if err != nil {
		t.Fatal(err)
	}
	f.Data = make([]byte, size-(len(probe)-len(f.Data)))
	_, _ = rand.Read(f.Data)
	payload, err := messages.Encode(&f)
	if err != nil || len(payload) != size {
		t.Fatalf("frame encodes to %d bytes (%v), want %d", len(payload), err, size)
	}
	return f, payload
}

// C14: with the server at max_payload 1 MiB, frames of 900 KB, exactly
// 1,048,576 bytes (without and with headers), one byte over, and 8.3 MB all
// reach the worker byte-identical, inline or by reference through the
// object store, each with one publish: no retry loop.
func TestOversizeFramesGoByReference(t *testing.T) {
	ns := startJSServer(t, 1<<20)
	nc := connect(t, ns)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	workerStore := framestore.New(js)

	var published atomic.Int64
	var mu sync.Mutex
	var got []byte
	var gotRef *messages.FrameRef
	if _, err := nc.Subscribe(testSubject, func(m *nats.Msg) {
		published.Add(1)
		f, err := messages.DecodeFrame(m.Data)
		if err == nil && f.Ref != nil {
			f.Data, err = workerStore.Get(t.Context(), f.Ref)
		}
		if err != nil {
			t.Errorf("worker: %v", err)
		}
		mu.Lock()
		got, gotRef = f.Data, f.Ref
		mu.Unlock()
		reply(t, m, f.Seq, messages.CodeOK, "w")
	}); err != nil {
		t.Fatal(err)
	}

	c := newInferClient(nc, 5*time.Second)
	c.frames = framestore.New(js)
	limit := int(nc.MaxPayload())
	if limit != 1<<20 {
		t.Fatalf("server advertises max_payload %d, want 1 MiB", limit)
	}
	header := nats.Header{"Sf-Trace": []string{"abc"}}
	tests := []struct {
		name   string
		size   int
		header nats.Header
		byRef  bool
	}{
		{"900 KB", 900_000, nil, false},
		{"exactly 1 MiB", limit, nil, false},
		{"exactly 1 MiB with headers", limit, header, true},
		{"1 byte over", limit + 1, nil, true},
		{"8.3 MB", 8_294_400, nil, true},
	}
	for i, tt := range tests {
		seq := uint64(i + 1)
		f, payload := encodedFrame(t, seq, tt.size)
		before, refsBefore := published.Load(), testutilCount(c)
		det, err := c.requestMsg(t.Context(), "ocr", &nats.Msg{Subject: testSubject, Header: tt.header,
			Data: payload}, seq)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		mu.Lock()
		same, ref := bytes.Equal(got, f.Data), gotRef
		mu.Unlock()
		switch {
		case det.Seq != seq:
			t.Errorf("%s: reply for frame %d", tt.name, det.Seq)
		case !same:
			t.Errorf("%s: the worker got different bytes", tt.name)
		case (ref != nil) != tt.byRef:
			t.Errorf("%s: by reference %v, want %v", tt.name, ref != nil, tt.byRef)
		case published.Load()-before != 1:
			t.Errorf("%s: %d publishes, want 1", tt.name, published.Load()-before)
		case tt.byRef && testutilCount(c)-refsBefore != 1:
			t.Errorf("%s: sf_agent_frames_by_reference_total rose by %d, want 1", tt.name,
				testutilCount(c)-refsBefore)
		}
		if ref != nil {
			// The agent deletes the object once it has its reply.
			_, err := workerStore.Get(t.Context(), ref)
			if !errors.Is(err, messages.ErrBadFrame) || !strings.Contains(err.Error(), "not found") {
				t.Errorf("%s: after the reply, get = %v, want not found", tt.name, err)
			}
		}
	}
	if n := count(c.metrics.infer, inferTooLarge); n != 0 {
		t.Errorf("too_large counted %d, want 0", n)
	}
}

// C14: the server itself refuses 1 MiB of data with a header, which is why
// the agent counts headers.
func TestServerCountsHeadersAgainstMaxPayload(t *testing.T) {
	nc := connect(t, startServer(t, 1<<20))
	msg := &nats.Msg{Subject: testSubject, Header: nats.Header{"Sf-Trace": []string{"abc"}},
		Data: make([]byte, 1<<20)}
	if err := nc.PublishMsg(msg); !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("publish 1 MiB with a header: %v, want %v", err, nats.ErrMaxPayload)
	}
	if got := wireSize(msg); got <= 1<<20 {
		t.Errorf("wireSize %d, want over 1 MiB", got)
	}
}

// C14: what cannot go by reference fails at once, typed and not retried.
func TestOversizeWithoutStoreIsTypedAndNotRetried(t *testing.T) {
	ns := startServer(t, 1<<20)
	nc := connect(t, ns)
	var published atomic.Int64
	if _, err := nc.Subscribe(testSubject, func(m *nats.Msg) { published.Add(1) }); err != nil {
		t.Fatal(err)
	}
	_, frame := encodedFrame(t, 1, 2<<20)
	c := newInferClient(nc, time.Second)
	for _, tt := range []struct {
		name    string
		payload []byte
		store   *framestore.Store
		why     string
	}{
		{"no store", frame, nil, "no object store"},
		{"not a frame", make([]byte, 2<<20), framestore.New(nil), "not a frame"},
	} {
		c.frames = tt.store
		_, err := c.request(t.Context(), "ocr", testSubject, tt.payload, 1)
		if !errors.Is(err, messages.ErrFrameTooLarge) || messages.CodeOf(err) != messages.CodeFrameTooLarge {
			t.Fatalf("%s: error %v, want ErrFrameTooLarge", tt.name, err)
		}
		if !strings.Contains(err.Error(), "exceeds the NATS server's max_payload of 1048576 bytes") ||
			!strings.Contains(err.Error(), tt.why) {
			t.Errorf("%s: error %q does not say why", tt.name, err)
		}
	}
	if published.Load() != 0 || count(c.metrics.infer, inferTooLarge) != 2 {
		t.Errorf("%d publishes and %d too_large; want 0 and 2", published.Load(),
			count(c.metrics.infer, inferTooLarge))
	}
}

// testutilCount reads sf_agent_frames_by_reference_total.
func testutilCount(c *inferClient) int {
	var m dto.Metric
	if err := c.metrics.byReference.Write(&m); err != nil {
		panic(err)
	}
	return int(m.GetCounter().GetValue())
}
