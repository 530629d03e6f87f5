package inferd

import (
	"context"
	"fmt"
	"sync"

	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/internal/ocr"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// served is what every model offers the protocol's metadata calls.
type served interface {
	// Name is the model name clients ask for.
	Name() string
	// Metadata describes the model to clients.
	Metadata() ModelInfo
}

// Model is one boxes model inferd serves: encoded images in, boxes out (the
// contract of package kserve).
type Model interface {
	served
	// Infer returns one box list per image, in order. images have passed
	// ocr.CheckImage. An error wrapping ocr.ErrBadImage is the client's fault.
	Infer(ctx context.Context, images [][]byte) ([][]messages.Box, error)
}

// TensorModel is a model with typed tensors in and out, such as the YOLOv8
// form: it reads and checks its own requests.
type TensorModel interface {
	served
	// Tensors describes the inputs and outputs; shapes start with the batch
	// dimension -1.
	Tensors() (inputs, outputs []TensorInfo)
	// InferTensors answers req. An error matching kserve.ErrInvalidRequest
	// is the client's fault.
	InferTensors(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error)
}

// TensorInfo describes one tensor of a TensorModel.
type TensorInfo struct {
	Name     string
	Datatype string // protocol string: "FP32", "INT32", ...
	Shape    []int64
}

// ModelInfo is what ModelMetadata and ModelConfig report about a model.
type ModelInfo struct {
	// MaxBatch is the largest batch (images per request) the model takes.
	MaxBatch int
	// Backend names what runs the model, e.g. "tesseract".
	Backend string
	// Platform is reported for tensor models (boxes models report
	// kserve.PlatformBoxes).
	Platform string
	// Labels are a detector's class names, published as the "labels"
	// parameter of its configuration.
	Labels []string
}

// OCRModelName is the name of the built-in OCR model.
const OCRModelName = "ocr"

// ocrModel serves an ocr.Pool as a boxes model.
type ocrModel struct {
	pool     *ocr.Pool
	maxBatch int
}

func (m *ocrModel) Name() string { return OCRModelName }

func (m *ocrModel) Metadata() ModelInfo {
	return ModelInfo{MaxBatch: m.maxBatch, Backend: "tesseract"}
}

// Infer recognises the images of a batch in parallel, as many at a time as
// the pool has engines.
func (m *ocrModel) Infer(ctx context.Context, images [][]byte) ([][]messages.Box, error) {
	out := make([][]messages.Box, len(images))
	errs := make([]error, len(images))
	var wg sync.WaitGroup
	for i, img := range images {
		wg.Go(func() { out[i], errs[i] = m.pool.Recognize(ctx, img) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
	}
	return out, nil
}
