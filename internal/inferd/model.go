package inferd

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/jpeg" // regions arrive as PNG, JPEG
	_ "image/png"
	"sync"

	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/internal/ocr"
	"github.com/screenfleet/screenfleet/pkg/messages"
	_ "github.com/screenfleet/screenfleet/pkg/rawframe" // or sfraw
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

// RegionModel is a boxes model that reads regions of screens (a request
// with kserve.ParamRegions) otherwise than whole screens.
type RegionModel interface {
	// InferRegions is Infer for regions: boxes in each region's pixels.
	InferRegions(ctx context.Context, images [][]byte) ([][]messages.Box, error)
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
	return m.each(images, func(img []byte) ([]messages.Box, error) { return m.pool.Recognize(ctx, img) })
}

// InferRegions recognises the regions of a batch in parallel. A region a
// few lines high is decoded here and read by ocr.Pool.RecognizeImage in
// block mode (6), which prepares small or light-on-dark text (C07, C08):
// the single-line mode it would pick for one line read a bordered button
// with a margin around it as "[ene]" for "Continue" (worker
// TestMovedButtonIsReadWhole). A taller region is read like a page (mode
// 3), since on a block of headings, fields and buttons the block mode read
// only the first line (worker TestExampleLabelsFoundInBothConfigurations).
func (m *ocrModel) InferRegions(ctx context.Context, images [][]byte) ([][]messages.Box, error) {
	return m.each(images, func(data []byte) ([]messages.Box, error) {
		cfg, err := ocr.CheckImage(data)
		if err != nil {
			return nil, err
		}
		if cfg.Height > maxLineRegion {
			return m.pool.Recognize(ctx, data)
		}
		img, _, err := image.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ocr.ErrBadImage, err)
		}
		return m.pool.RecognizeImage(ctx, img, ocr.CropOptions{PSM: ocr.PSMBlock})
	})
}

// maxLineRegion is the tallest region read as a line or a few: one or two
// rows of 32 px tiles with their margins (the worker's regions) hold a line
// of UI text or a button.
const maxLineRegion = 96

// each runs read on every image at once (the pool bounds how many run) and
// returns the results in order, or the first image's error.
func (m *ocrModel) each(images [][]byte, read func([]byte) ([]messages.Box, error)) ([][]messages.Box,
	error) {
	out := make([][]messages.Box, len(images))
	errs := make([]error, len(images))
	var wg sync.WaitGroup
	for i, img := range images {
		wg.Go(func() { out[i], errs[i] = read(img) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
	}
	return out, nil
}
