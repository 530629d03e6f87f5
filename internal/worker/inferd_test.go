package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/inferd"
	"github.com/screenfleet/screenfleet/internal/kserve"
	"github.com/screenfleet/screenfleet/internal/ocr/ocrtest"
	"github.com/screenfleet/screenfleet/internal/worker"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// startInferd runs a real inferd (Tesseract behind the Triton gRPC protocol)
// and returns its gRPC address.
func startInferd(t *testing.T) string {
	t.Helper()
	srv, err := inferd.Start(t.Context(), inferd.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		OCRWorkers: 1}, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatalf("start inferd: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv.GRPCAddr()
}

// dial returns a client of the backend at addr.
func dial(t *testing.T, addr string) *kserve.Client {
	t.Helper()
	c, err := kserve.Dial(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A frame of a rendered sign-in page goes agent -> NATS -> worker -> gRPC ->
// inferd -> Tesseract and back; "Sign in" comes back where it was drawn.
func TestRealOCRRoundTrip(t *testing.T) {
	png := ocrtest.Screenshot(t, ocrtest.LoginPage, 400, 200)
	url := startNATS(t)
	nc := connect(t, url)
	w, _ := startWorker(t, worker.Config{NATSURL: url}, dial(t, startInferd(t)))
	waitReady(t, w)

	frame, err := messages.Encode(messages.Frame{V: messages.Version, Sandbox: "sb1", Seq: 42,
		Codec: messages.CodecPNG, Width: 400, Height: 200, DisplayW: 400, DisplayH: 200, Scale: 1, Data: png})
	if err != nil {
		t.Fatal(err)
	}
	d, err := infer(nc, subjects.Infer("ocr", "sb1"), frame, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != messages.StatusOK || d.Seq != 42 || d.InferNs <= 0 {
		t.Fatalf("reply = %+v, want ok for seq 42 with a backend time", d)
	}
	if !foundNear(d.Boxes, "sign", ocrtest.SignInAt) {
		t.Fatalf("no box with \"Sign\" near %+v in %+v", ocrtest.SignInAt, d.Boxes)
	}
}

// badImage is a frame that passes the worker's checks and that the backend
// must reject.
func badImage(t *testing.T) []byte {
	t.Helper()
	frame, err := messages.Encode(messages.Frame{Seq: 9, Codec: messages.CodecPNG, Width: 10, Height: 10,
		Data: []byte("not a png")})
	if err != nil {
		t.Fatal(err)
	}
	return frame
}

// An undecodable image is rejected by the real backend with
// INVALID_ARGUMENT, which reaches the agent as a bad-frame error.
func TestRealBackendRejectsBadImage(t *testing.T) {
	url := startNATS(t)
	nc := connect(t, url)
	w, _ := startWorker(t, worker.Config{NATSURL: url}, dial(t, startInferd(t)))
	waitReady(t, w)

	d, err := infer(nc, subjects.Infer("ocr", "sb1"), badImage(t), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != messages.StatusError || d.Code != messages.CodeBadFrame || d.Boxes == nil {
		t.Fatalf("reply = %+v, want a bad-frame error with an empty box list", d)
	}
}

// Run dials the backend itself, serves until its context ends, and then
// returns nil.
func TestRunServesUntilCancelled(t *testing.T) {
	url := startNATS(t)
	nc := connect(t, url)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	cfg := worker.Config{NATSURL: url, BackendAddr: startInferd(t), ReadyInterval: 20 * time.Millisecond}
	go func() { done <- worker.Run(ctx, cfg, zerolog.New(zerolog.NewTestWriter(t))) }()

	var d messages.Detections
	waitFor(t, 10*time.Second, "worker answering", func() bool {
		var err error
		d, err = infer(nc, subjects.Infer("ocr", "sb1"), badImage(t), 5*time.Second)
		return err == nil
	})
	if d.Code != messages.CodeBadFrame {
		t.Fatalf("reply = %+v, want the backend's bad-frame error", d)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func foundNear(boxes []messages.Box, word string, at ocrtest.Rect) bool {
	for _, b := range boxes {
		if strings.Contains(strings.ToLower(b.Text), word) && at.Contains(b.CenterX(), b.CenterY(), 10) {
			return true
		}
	}
	return false
}
