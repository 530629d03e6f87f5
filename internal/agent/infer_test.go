package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

const testSubject = "sf.infer.ocr.sb-test"

func newInferClient(nc *nats.Conn, timeout time.Duration) *inferClient {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		panic(err)
	}
	return &inferClient{nc: nc, timeout: timeout, metrics: m}
}

// reply answers a request with detections for seq, or with an error code.
func reply(t *testing.T, m *nats.Msg, seq uint64, code messages.Code, worker string) {
	det := messages.Detections{V: messages.Version, Seq: seq, Status: messages.StatusOK, Worker: worker,
		Boxes: []messages.Box{{X: 1, Y: 2, W: 3, H: 4, Text: "ok"}}}
	if code != messages.CodeOK {
		det = messages.Detections{V: messages.Version, Seq: seq, Status: messages.StatusError, Code: code,
			Error: fmt.Sprintf("code %d from %s", code, worker), Worker: worker}
	}
	data, err := messages.Encode(&det)
	if err == nil {
		err = m.Respond(data)
	}
	if err != nil {
		t.Error(err)
	}
}

// C15: with no worker subscribed a request fails in well under the timeout
// as no responders, counted apart from timeouts, and is retried with a
// jittered backoff.
func TestNoRespondersIsToldApartFast(t *testing.T) {
	nc := connect(t, startServer(t, 0))
	c := newInferClient(nc, 5*time.Second)

	start := time.Now()
	_, err := c.attempt(t.Context(), &nats.Msg{Subject: testSubject, Data: []byte("frame")}, 1)
	if !errors.Is(err, errNoResponders) {
		t.Fatalf("attempt error = %v, want no responders", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("no responders took %s; it must not wait for the 5 s timeout", took)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
	defer cancel()
	_, err = c.request(ctx, "ocr", testSubject, []byte("frame"), 1)
	if !errors.Is(err, messages.ErrBackendNotReady) || err.Error() != `no inference worker for model "ocr"` {
		t.Fatalf("request error = %v, want ErrBackendNotReady naming the model", err)
	}
	if n := count(c.metrics.infer, inferNoResponders); n < 2 || n > 9 {
		t.Errorf("%d attempts in 700 ms; want retries spaced 100-500 ms", n)
	}
}

func TestWorkerThatStartsLateIsFound(t *testing.T) {
	nc := connect(t, startServer(t, 0))
	c := newInferClient(nc, time.Second)
	done := make(chan error, 1)
	go func() {
		_, err := c.request(t.Context(), "ocr", testSubject, []byte("frame"), 5)
		done <- err
	}()
	waitUntil(t, 5*time.Second, "a no-responders attempt", func() bool {
		return count(c.metrics.infer, inferNoResponders) > 0
	})
	if _, err := nc.Subscribe(testSubject, func(m *nats.Msg) {
		reply(t, m, 5, messages.CodeOK,
			"late")
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("request = %v, want the late worker's reply", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request did not reach the late worker")
	}
}

func TestErrorReplies(t *testing.T) {
	tests := []struct {
		code     messages.Code
		sentinel error
		retried  bool
	}{
		{messages.CodeBadFrame, messages.ErrBadFrame, false},
		{messages.CodeUnknownModel, messages.ErrUnknownModel, false},
		{messages.CodeInferFailed, messages.ErrInferFailed, false},
		{messages.CodeBackendNotReady, messages.ErrBackendNotReady, true},
	}
	nc := connect(t, startServer(t, 0))
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			subject := fmt.Sprintf("sf.infer.m%d.sb", tt.code)
			sub, err := nc.Subscribe(subject, func(m *nats.Msg) { reply(t, m, 1, tt.code, "w1") })
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			c := newInferClient(nc, time.Second)
			// Long enough for a loaded CI machine to answer; a retried
			// code keeps retrying until it ends.
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()

			_, err = c.request(ctx, "m", subject, []byte("frame"), 1)
			if !errors.Is(err, tt.sentinel) || messages.CodeOf(err) != tt.code {
				t.Fatalf("error = %v (code %d), want code %d", err, messages.CodeOf(err), tt.code)
			}
			if n := count(c.metrics.infer, inferErrorReply); (n > 1) != tt.retried {
				t.Errorf("%d attempts; retried should be %v", n, tt.retried)
			}
		})
	}
}

// C15, and issue 6's fault list: an inference request that times out (its
// worker died mid-request, as a killed worker or inferd leaves it) is
// retried, and the queue group hands it to another worker.
func TestTimeoutIsRetriedOnAnotherWorker(t *testing.T) {
	nc := connect(t, startServer(t, 0))
	queue := "sf-workers-ocr"
	got := make(chan struct{})
	var slow *nats.Subscription
	slow, err := nc.QueueSubscribe(testSubject, queue, func(m *nats.Msg) {
		// Takes the frame and leaves the group without replying, like a
		// worker that dies mid-request.
		_ = slow.Unsubscribe()
		close(got)
	})
	if err != nil {
		t.Fatal(err)
	}
	c := newInferClient(nc, 300*time.Millisecond)
	type result struct {
		det *messages.Detections
		err error
	}
	done := make(chan result, 1)
	go func() {
		det, err := c.request(t.Context(), "ocr", testSubject, []byte("frame"), 9)
		done <- result{det, err}
	}()

	<-got
	if _, err := nc.QueueSubscribe(testSubject, queue, func(m *nats.Msg) {
		reply(t, m, 9,
			messages.CodeOK, "fast")
	}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.det.Worker != "fast" {
		t.Fatalf("request = %+v, %v; want the second worker's reply", r.det, r.err)
	}
	if n := count(c.metrics.infer, inferTimeout); n != 1 {
		t.Errorf("%d timeouts counted, want 1", n)
	}
}

func TestReplyForAnotherFrameIsRejected(t *testing.T) {
	c := newInferClient(nil, time.Second)
	data, _ := messages.Encode(&messages.Detections{Seq: 3, Status: messages.StatusOK})
	if _, err := c.decode(data, 4); !errors.Is(err, messages.ErrInferFailed) {
		t.Fatalf("decode = %v, want ErrInferFailed", err)
	}
	if _, err := c.decode([]byte{0xc1}, 4); !errors.Is(err, messages.ErrInferFailed) {
		t.Fatalf("decode of garbage = %v, want ErrInferFailed", err)
	}
}
