package inferd

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/jpeg" // frames may be JPEG
	_ "image/png"

	"github.com/screenfleet/screenfleet/internal/elements"
	"github.com/screenfleet/screenfleet/internal/kserve"
	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/internal/ocr"
	"github.com/screenfleet/screenfleet/internal/yolo"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Names of the element detection models.
const (
	// ElementsModelName is the boxes form: encoded images in, boxes out.
	ElementsModelName = "elements"
	// ElementsYOLOModelName is the YOLOv8 tensor form of the same detector,
	// so the worker's YOLO adapter runs against real tensors over gRPC.
	ElementsYOLOModelName = "elements_yolo"
)

// The YOLOv8 form's tensors: Ultralytics' names and input size, and a fixed
// number of anchor slots (a screen has far fewer controls; unused slots
// score 0).
const (
	yoloInput   = "images"
	yoloOutput  = "output0"
	yoloSide    = 640
	yoloAnchors = 256
)

// elementsModel serves elements.Detect as a boxes model.
type elementsModel struct{ maxBatch int }

func (m elementsModel) Name() string { return ElementsModelName }

func (m elementsModel) Metadata() ModelInfo {
	return ModelInfo{MaxBatch: m.maxBatch, Backend: "classical", Labels: elements.Classes}
}

func (m elementsModel) Infer(ctx context.Context, images [][]byte) ([][]messages.Box, error) {
	out := make([][]messages.Box, len(images))
	for i, data := range images {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		img, _, err := image.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("image %d: %w: %v", i, ocr.ErrBadImage, err)
		}
		for _, e := range elements.Detect(yolo.RGBA(img), elements.Options{}) {
			out[i] = append(out[i], messages.Box{X: e.X, Y: e.Y, W: e.W, H: e.H,
				Class: elements.Classes[e.Class], Conf: e.Conf})
		}
	}
	return out, nil
}

// elementsYOLO serves the detector in the YOLOv8 tensor form: FP32 input
// [B, 3, 640, 640] (letterboxed RGB, 0..1), output [B, 4+3, 256] with
// centre, size and per-class scores in input pixels, as Ultralytics exports.
type elementsYOLO struct{ maxBatch int }

func (m elementsYOLO) Name() string { return ElementsYOLOModelName }

func (m elementsYOLO) Metadata() ModelInfo {
	return ModelInfo{MaxBatch: m.maxBatch, Backend: "classical", Platform: "screenfleet_yolov8",
		Labels: elements.Classes}
}

func (m elementsYOLO) Tensors() (inputs, outputs []TensorInfo) {
	return []TensorInfo{{Name: yoloInput, Datatype: "FP32", Shape: []int64{-1, 3, yoloSide, yoloSide}}},
		[]TensorInfo{{Name: yoloOutput, Datatype: "FP32",
			Shape: []int64{-1, int64(4 + len(elements.Classes)), yoloAnchors}}}
}

func (m elementsYOLO) InferTensors(ctx context.Context,
	req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	data, shape, err := kserve.FP32Input(req, yoloInput)
	if err != nil {
		return nil, err
	}
	if len(shape) != 4 || shape[1] != 3 || shape[2] != yoloSide || shape[3] != yoloSide || shape[0] < 1 {
		return nil, fmt.Errorf("%w: input %q shape %v, want [B, 3, 640, 640]",
			kserve.ErrInvalidRequest, yoloInput, shape)
	}
	if shape[0] > int64(m.maxBatch) {
		return nil, fmt.Errorf("%w: batch size %d exceeds max_batch_size %d", kserve.ErrInvalidRequest,
			shape[0], m.maxBatch)
	}
	ch := 4 + len(elements.Classes)
	per, plane := 3*yoloSide*yoloSide, ch*yoloAnchors
	out := make([]float32, int(shape[0])*plane)
	for b := range int(shape[0]) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		img := yolo.Image(data[b*per:(b+1)*per], yoloSide, yoloSide)
		// A control shrinks with the letterbox: a checkbox's fill is about
		// 5 px once a full-HD frame is scaled to 640.
		found := elements.Detect(img, elements.Options{MinSide: 4})
		writeAnchors(out[b*plane:(b+1)*plane], found)
	}
	return kserve.NewFP32Response(yoloOutput, []int64{shape[0], int64(ch), yoloAnchors}, out), nil
}

// writeAnchors lays elements out channel-major, one anchor each.
func writeAnchors(dst []float32, found []elements.Element) {
	for a, e := range found[:min(len(found), yoloAnchors)] {
		vals := []float32{float32(e.X) + float32(e.W)/2, float32(e.Y) + float32(e.H)/2, float32(e.W), float32(e.H)}
		for c, v := range vals {
			dst[c*yoloAnchors+a] = v
		}
		dst[(4+e.Class)*yoloAnchors+a] = e.Conf
	}
}
