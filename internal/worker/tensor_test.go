package worker_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/internal/worker"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// nmsBackend is a Triton-like backend serving one YOLOv8 model exported
// with EfficientNMS (end2end): its metadata, and for every image one
// detection at input (62.5,257)-(187.5,294.5), which is frame
// (100,200)-(300,260) of a 1024x600 frame.
type nmsBackend struct {
	outputs []*pb.ModelMetadataResponse_TensorMetadata
	probes  atomic.Int64
}

func (b *nmsBackend) Ready(context.Context, string) error {
	b.probes.Add(1)
	return nil
}

func (b *nmsBackend) InferBoxes(context.Context, string, [][]byte) ([][]messages.Box, error) {
	return nil, status.Error(codes.InvalidArgument, "a tensor model")
}

func (b *nmsBackend) Config(_ context.Context, model string) (*pb.ModelConfig, error) {
	return &pb.ModelConfig{Name: model, MaxBatchSize: 4}, nil
}

func (b *nmsBackend) Metadata(_ context.Context, model string) (*pb.ModelMetadataResponse, error) {
	return &pb.ModelMetadataResponse{Name: model, Platform: "tensorrt_plan",
		Inputs: []*pb.ModelMetadataResponse_TensorMetadata{
			{Name: "images", Datatype: "FP32", Shape: []int64{-1, 3, 640, 640}}},
		Outputs: b.outputs}, nil
}

func (b *nmsBackend) Infer(_ context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	n := int(req.GetInputs()[0].GetShape()[0])
	const k = 2
	var num, boxes, scores, classes []byte
	for range n {
		num = binary.LittleEndian.AppendUint32(num, 1)
		for _, v := range []float32{62.5, 257, 187.5, 294.5, 0, 0, 0, 0} {
			boxes = binary.LittleEndian.AppendUint32(boxes, math.Float32bits(v))
		}
		for _, v := range []float32{0.8, 0} {
			scores = binary.LittleEndian.AppendUint32(scores, math.Float32bits(v))
		}
		classes = binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(classes, 1), 0)
	}
	out := func(name, dt string, shape ...int64) *pb.ModelInferResponse_InferOutputTensor {
		return &pb.ModelInferResponse_InferOutputTensor{Name: name, Datatype: dt, Shape: shape}
	}
	return &pb.ModelInferResponse{
		Outputs: []*pb.ModelInferResponse_InferOutputTensor{out("num_dets", "INT32", int64(n), 1),
			out("det_boxes", "FP32", int64(n), k, 4), out("det_scores", "FP32", int64(n), k),
			out("det_classes", "INT32", int64(n), k)},
		RawOutputContents: [][]byte{num, boxes, scores, classes},
	}, nil
}

func labelsFile(t *testing.T, labels string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "labels.txt")
	if err := os.WriteFile(path, []byte(labels), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func blankPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The EfficientNMS form is picked from the outputs' names; class names come
// from the labels file; the box lands on the frame's pixels.
func TestYOLOEfficientNMSForm(t *testing.T) {
	url := startNATS(t)
	nc := connect(t, url)
	b := &nmsBackend{outputs: []*pb.ModelMetadataResponse_TensorMetadata{
		{Name: "num_dets", Datatype: "INT32", Shape: []int64{-1, 1}},
		{Name: "det_boxes", Datatype: "FP32", Shape: []int64{-1, 2, 4}},
		{Name: "det_scores", Datatype: "FP32", Shape: []int64{-1, 2}},
		{Name: "det_classes", Datatype: "INT32", Shape: []int64{-1, 2}},
	}}
	w, _ := startWorker(t, worker.Config{NATSURL: url, Models: []string{"det"},
		Labels: map[string]string{"det": labelsFile(t, "button\nlink\n")}}, b)
	waitReady(t, w)
	if s := w.Status("det"); s.Adapter != "yolo" || s.MaxBatch != 4 {
		t.Fatalf("status %+v, want the yolo adapter with batches of 4 (the model's max)", s)
	}
	d := inferFrame(t, nc, "det", blankPNG(t, 1024, 600), image.Pt(1024, 600))
	want := messages.Box{X: 100, Y: 200, W: 200, H: 60, Class: "link", Conf: 0.8}
	if len(d.Boxes) != 1 || d.Boxes[0] != want {
		t.Fatalf("boxes %+v, want %+v", d.Boxes, want)
	}
}

// A raw output whose shape does not fit the labels (C12: a 1-class model
// read with 80 labels) is refused when the worker starts serving the model:
// it never takes frames for it, and says why once.
func TestYOLOLayoutMismatchRefused(t *testing.T) {
	url := startNATS(t)
	b := &nmsBackend{outputs: []*pb.ModelMetadataResponse_TensorMetadata{
		{Name: "output0", Datatype: "FP32", Shape: []int64{-1, 5, 8400}}}}
	var eighty bytes.Buffer
	for range 80 {
		eighty.WriteString("thing\n")
	}
	w, logs := startWorker(t, worker.Config{NATSURL: url, Models: []string{"det"},
		Labels: map[string]string{"det": labelsFile(t, eighty.String())}}, b)
	waitFor(t, 5*time.Second, "several polls", func() bool { return b.probes.Load() >= 5 })
	if w.Ready() {
		t.Fatal("worker serves a model whose output does not fit its labels")
	}
	l := logs.String()
	if n := strings.Count(l, "cannot serve model"); n != 1 || !strings.Contains(l, "no dimension of 4+80") {
		t.Fatalf("refusal logged %d times: %s", n, l)
	}
}
