package worker_test

import (
	"bytes"
	"image"
	"image/png"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/screenfleet/screenfleet/internal/elements/elementstest"
	"github.com/screenfleet/screenfleet/internal/inferd"
	"github.com/screenfleet/screenfleet/internal/ocr/ocrtest"
	"github.com/screenfleet/screenfleet/internal/worker"
	"github.com/screenfleet/screenfleet/internal/yolo"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// The YOLOv8 path for real: the worker reads elements_yolo's metadata (FP32
// [B,3,640,640] in, [B,7,256] out, labels in its config), picks the YOLO
// adapter itself, letterboxes frames of sizes that do not divide into 640,
// and the boxes inferd found in the letterboxed tensor come back on the
// frame's own pixels, each control with its class.
func TestYOLOAdapterAgainstInferd(t *testing.T) {
	url := startNATS(t)
	nc := connect(t, url)
	// Area resizing: the classical detector needs the controls' 1 px
	// outlines, which bilinear sampling skips below half size.
	w, logs := startWorker(t, worker.Config{NATSURL: url, Models: []string{inferd.ElementsYOLOModelName},
		YOLO: yolo.Options{Area: true}}, dial(t, startInferd(t)))
	waitReady(t, w)
	if logs.count("worker_ready") != 1 || w.Ready() != true {
		t.Fatal("worker not ready")
	}
	for _, size := range []image.Point{{1024, 600}, {1366, 768}} {
		shot := ocrtest.Screenshot(t, elementstest.FormPage, size.X, size.Y)
		if got := pngSize(t, shot); got != size {
			t.Fatalf("screenshot is %v, want %v", got, size)
		}
		d := inferFrame(t, nc, inferd.ElementsYOLOModelName, shot, size)
		for _, want := range elementstest.FormElements {
			if !hasElement(d.Boxes, want) {
				t.Errorf("%v: no %s at %+v in %+v", size, want.Class, want.At, d.Boxes)
			}
		}
	}
}

// hasElement reports whether a box of want's class lies on want's place:
// corners within 3 px, which at a scale of about 0.6 is under 2 input
// pixels of detection error.
func hasElement(boxes []messages.Box, want elementstest.Element) bool {
	a := want.At
	for _, b := range boxes {
		if b.Class == want.Class && abs(b.X-a.X) <= 3 && abs(b.Y-a.Y) <= 3 &&
			abs(b.X+b.W-a.X-a.W) <= 3 && abs(b.Y+b.H-a.Y-a.H) <= 3 {
			return true
		}
	}
	return false
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func pngSize(t *testing.T, data []byte) image.Point {
	t.Helper()
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return image.Pt(cfg.Width, cfg.Height)
}

// inferFrame sends one PNG frame for model and returns the ok reply.
func inferFrame(t *testing.T, nc *nats.Conn, model string, png []byte,
	size image.Point) messages.Detections {
	t.Helper()
	frame, err := messages.Encode(messages.Frame{V: messages.Version, Sandbox: "sb1", Seq: 1,
		Codec: messages.CodecPNG, Width: size.X, Height: size.Y, Data: png})
	if err != nil {
		t.Fatal(err)
	}
	d, err := infer(nc, subjects.Infer(model, "sb1"), frame, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != messages.StatusOK {
		t.Fatalf("reply %+v", d)
	}
	return d
}
