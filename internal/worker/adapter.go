package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/screenfleet/screenfleet/internal/kserve"
	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/internal/regions"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Adapter kinds, the values of Config.Adapters.
const (
	// AdapterAuto picks the adapter from the model's metadata.
	AdapterAuto = "auto"
	// AdapterBoxes sends encoded images and reads boxes (inferd's models,
	// Triton Python-backend models following the same contract).
	AdapterBoxes = "boxes"
	// AdapterYOLO letterboxes into FP32 NCHW and decodes YOLOv8 output.
	AdapterYOLO = "yolo"
)

// adapter turns a batch of frames into one backend call and its output into
// boxes in each frame's pixels.
type adapter interface {
	kind() string
	// maxBatch is the most frames one call may carry.
	maxBatch() int
	infer(ctx context.Context, frames []messages.Frame) ([][]messages.Box, error)
}

// describer is what the worker asks a backend to pick a model's adapter.
// *kserve.Client is one; a Backend that is not serves boxes models only.
type describer interface {
	Config(ctx context.Context, model string) (*pb.ModelConfig, error)
	Metadata(ctx context.Context, model string) (*pb.ModelMetadataResponse, error)
}

// tensorBackend makes raw ModelInfer calls, for tensor models.
type tensorBackend interface {
	Infer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error)
}

// boxesAdapter serves a boxes model: encoded images in, boxes out.
type boxesAdapter struct {
	backend Backend
	model   string
	batch   int
	regions *regions.Cache // nil: every frame whole
}

func (a boxesAdapter) kind() string  { return AdapterBoxes }
func (a boxesAdapter) maxBatch() int { return a.batch }

func (a boxesAdapter) infer(ctx context.Context, frames []messages.Frame) ([][]messages.Box, error) {
	if a.regions != nil {
		return a.inferRegions(ctx, frames)
	}
	images := make([][]byte, len(frames))
	for i, f := range frames {
		p, err := wholeFrame(f, nil, nil)
		if err != nil {
			return nil, err
		}
		images[i] = p.images[0]
	}
	return a.backend.InferBoxes(ctx, a.model, images)
}

// defaultAdapter is the adapter of a model whose metadata was not read.
func (w *Worker) defaultAdapter(model string) adapter {
	return boxesAdapter{backend: w.backend, model: model, batch: w.cfg.MaxBatch, regions: w.regions}
}

// pickAdapter chooses model's adapter from Config.Adapters, or from the
// model's metadata, and sizes its batches: never more than the model's
// max_batch_size, and one frame for a model without a batch dimension (C09).
func (w *Worker) pickAdapter(ctx context.Context, model string) (adapter, error) {
	want := w.cfg.Adapters[model]
	d, ok := w.backend.(describer)
	if !ok {
		if want == AdapterYOLO {
			return nil, fmt.Errorf("model %q: the yolo adapter needs a backend that describes its models", model)
		}
		return w.defaultAdapter(model), nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.RequestTimeout)
	defer cancel()
	cfg, err := d.Config(ctx, model)
	if err != nil {
		return nil, err
	}
	md, err := d.Metadata(ctx, model)
	if err != nil {
		return nil, err
	}
	if want == "" || want == AdapterAuto {
		if want = kindOf(md); want == "" {
			return nil, fmt.Errorf("model %q: cannot tell its adapter from its metadata (platform %q); "+
				"set --adapter %s=boxes or =yolo", model, md.GetPlatform(), model)
		}
	}
	batch := min(w.cfg.MaxBatch, max(1, int(cfg.GetMaxBatchSize())))
	if want == AdapterYOLO {
		return w.newYOLOAdapter(model, md, cfg, batch)
	}
	return boxesAdapter{backend: w.backend, model: model, batch: batch, regions: w.regions}, nil
}

// kindOf reads the adapter a model needs from its metadata: BYTES in is a
// boxes model, one FP32 image tensor in is a YOLO model.
func kindOf(md *pb.ModelMetadataResponse) string {
	if md.GetPlatform() == kserve.PlatformBoxes {
		return AdapterBoxes
	}
	in := md.GetInputs()
	if len(in) != 1 {
		return ""
	}
	switch shape := in[0].GetShape(); {
	case in[0].GetDatatype() == kserve.DatatypeBytes:
		return AdapterBoxes
	case in[0].GetDatatype() == "FP32" && (len(shape) == 3 || len(shape) == 4):
		return AdapterYOLO
	}
	return ""
}

// labels returns a YOLO model's class names: from the labels file set for
// it, else from the "labels" parameter of its configuration (inferd's
// tensor models publish theirs there).
func (w *Worker) labels(model string, cfg *pb.ModelConfig) ([]string, error) {
	if path := w.cfg.Labels[model]; path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("model %q labels: %w", model, err)
		}
		return splitLabels(string(data), "\n"), nil
	}
	if p, ok := cfg.GetParameters()["labels"]; ok {
		return splitLabels(p.GetStringValue(), ","), nil
	}
	return nil, fmt.Errorf("model %q: no labels file (--labels %s=FILE) and no labels parameter", model, model)
}

func splitLabels(s, sep string) []string {
	var out []string
	for _, l := range strings.Split(s, sep) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// isInvalid reports whether err says the request itself was wrong, which
// for a batch may be one frame's fault.
func isInvalid(err error) bool {
	return status.Code(err) == codes.InvalidArgument || errors.Is(err, messages.ErrBadFrame)
}
