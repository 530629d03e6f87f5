package inferd_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/screenfleet/screenfleet/internal/elements/elementstest"
	"github.com/screenfleet/screenfleet/internal/inferd"
	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/internal/ocr/ocrtest"
)

// The elements model finds the controls of a rendered page over the
// protocol, each with its class.
func TestElementsModel(t *testing.T) {
	shot := ocrtest.Screenshot(t, elementstest.FormPage, 640, 400)
	_, c := start(t, inferd.Config{})
	boxes, err := c.InferBoxes(t.Context(), inferd.ElementsModelName, [][]byte{shot})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range elementstest.FormElements {
		ok := false
		for _, b := range boxes[0] {
			ok = ok || (b.Class == want.Class && want.At.Contains(b.CenterX(), b.CenterY(), 2))
		}
		if !ok {
			t.Errorf("no %s at %+v in %+v", want.Class, want.At, boxes[0])
		}
	}
}

// The YOLOv8 form describes itself as Ultralytics exports do, publishes its
// labels, and refuses a wrongly shaped input as INVALID_ARGUMENT.
func TestElementsYOLOMetadata(t *testing.T) {
	_, c := start(t, inferd.Config{})
	md, err := c.Metadata(t.Context(), inferd.ElementsYOLOModelName)
	if err != nil {
		t.Fatal(err)
	}
	in, out := md.GetInputs(), md.GetOutputs()
	if len(in) != 1 || in[0].GetName() != "images" || in[0].GetDatatype() != "FP32" ||
		!equalShape(in[0].GetShape(), -1, 3, 640, 640) || len(out) != 1 || out[0].GetName() != "output0" ||
		!equalShape(out[0].GetShape(), -1, 7, 256) {
		t.Fatalf("metadata %v", md)
	}
	cfg, err := c.Config(t.Context(), inferd.ElementsYOLOModelName)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GetMaxBatchSize() != 8 || !equalShape(cfg.GetInput()[0].GetDims(), 3, 640, 640) ||
		cfg.GetInput()[0].GetDataType() != pb.DataType_TYPE_FP32 ||
		cfg.GetParameters()["labels"].GetStringValue() != "button,input,checkbox" {
		t.Fatalf("config %v", cfg)
	}
	_, err = c.Infer(t.Context(), &pb.ModelInferRequest{ModelName: inferd.ElementsYOLOModelName,
		Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "images", Datatype: "FP32", Shape: []int64{1, 3, 2, 2},
			Contents: &pb.InferTensorContents{Fp32Contents: make([]float32, 12)}}}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "want [B, 3, 640, 640]") {
		t.Fatalf("bad shape: %v", err)
	}
}

// The delay model takes base + per_item * sqrt(batch) per batch.
func TestDelayModel(t *testing.T) {
	_, c := start(t, inferd.Config{Delay: inferd.DelayConfig{Base: 20 * time.Millisecond,
		PerItem: 30 * time.Millisecond}})
	img := pngOf(t, 8, 8)
	began := time.Now()
	boxes, err := c.InferBoxes(t.Context(), inferd.DelayModelName, repeat(img, 4))
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 80*time.Millisecond || took > 2*time.Second || len(boxes) != 4 {
		t.Fatalf("batch of 4 took %s with %d results, want 20+30*2 = 80 ms and 4", took, len(boxes))
	}
	if err := c.Ready(t.Context(), inferd.DelayModelName); err != nil {
		t.Fatal(err)
	}
	_, plain := start(t, inferd.Config{})
	if err := plain.Ready(t.Context(), inferd.DelayModelName); err == nil {
		t.Fatal("delay model served without being configured")
	}
}
