package worker

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/jpeg" // frames may be JPEG
	_ "image/png"
	"math"

	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/internal/yolo"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// The output names of the EfficientNMS form: the community "end2end" names
// first, then the plugin's own.
var nmsOutputs = [][4]string{
	{"num_dets", "det_boxes", "det_scores", "det_classes"},
	{"num_detections", "detection_boxes", "detection_scores", "detection_classes"},
}

// yoloAdapter serves a YOLOv8 tensor model: frames are letterboxed into one
// FP32 NCHW tensor, and the output, raw [B, 4+nc, anchors] or EfficientNMS,
// is decoded and mapped back to each frame's pixels.
type yoloAdapter struct {
	backend  tensorBackend
	model    string
	input    string
	w, h     int
	batchDim bool // the model takes a batch dimension (max_batch_size > 0)
	batch    int
	labels   []string
	raw      string    // the raw output's name, or "" for the NMS form
	nms      [4]string // EfficientNMS output names
	opt      yolo.Options
}

func (a *yoloAdapter) kind() string  { return AdapterYOLO }
func (a *yoloAdapter) maxBatch() int { return a.batch }

// newYOLOAdapter checks a YOLO model's tensors against its labels and
// builds its adapter: a mismatch fails here, at start, not on every frame.
func (w *Worker) newYOLOAdapter(model string, md *pb.ModelMetadataResponse, cfg *pb.ModelConfig,
	batch int) (*yoloAdapter, error) {
	tb, ok := w.backend.(tensorBackend)
	if !ok {
		return nil, fmt.Errorf("model %q: the backend cannot make tensor calls", model)
	}
	labels, err := w.labels(model, cfg)
	if err != nil {
		return nil, err
	}
	a := &yoloAdapter{backend: tb, model: model, batch: batch, labels: labels, opt: w.cfg.YOLO,
		batchDim: cfg.GetMaxBatchSize() > 0}
	if err := a.readInput(md.GetInputs()); err != nil {
		return nil, fmt.Errorf("model %q: %w", model, err)
	}
	if err := a.readOutputs(md.GetOutputs()); err != nil {
		return nil, fmt.Errorf("model %q: %w", model, err)
	}
	return a, nil
}

// readInput takes the input's name and size from [B, 3, H, W] or [3, H, W].
func (a *yoloAdapter) readInput(ins []*pb.ModelMetadataResponse_TensorMetadata) error {
	in := ins[0]
	shape := in.GetShape()
	if a.batchDim {
		shape = shape[1:]
	}
	if len(shape) != 3 || shape[0] != 3 || shape[1] < 1 || shape[2] < 1 {
		return fmt.Errorf("input %q shape %v: want [-1, 3, H, W] with a fixed size", in.GetName(), in.GetShape())
	}
	a.input, a.h, a.w = in.GetName(), int(shape[1]), int(shape[2])
	return nil
}

// readOutputs finds the EfficientNMS outputs, or else the one raw output,
// whose shape must fit the labels (C12).
func (a *yoloAdapter) readOutputs(outs []*pb.ModelMetadataResponse_TensorMetadata) error {
	names := map[string]bool{}
	for _, o := range outs {
		names[o.GetName()] = true
	}
	for _, set := range nmsOutputs {
		if names[set[0]] && names[set[1]] && names[set[2]] && names[set[3]] {
			a.nms = set
			return nil
		}
	}
	if len(outs) != 1 {
		return fmt.Errorf("%d outputs: want one [B, 4+classes, anchors] or the four EfficientNMS ones", len(outs))
	}
	shape := outs[0].GetShape()
	if !a.batchDim {
		shape = append([]int64{1}, shape...)
	}
	if len(shape) == 3 && (shape[1] > 0 || shape[2] > 0) {
		if _, err := yolo.LayoutOf([]int64{1, shape[1], shape[2]}, len(a.labels)); err != nil {
			return fmt.Errorf("output %q with %d labels: %w", outs[0].GetName(), len(a.labels), err)
		}
	}
	a.raw = outs[0].GetName()
	return nil
}

func (a *yoloAdapter) infer(ctx context.Context, frames []messages.Frame) ([][]messages.Box, error) {
	req, transforms, err := a.request(frames)
	if err != nil {
		return nil, err
	}
	resp, err := a.backend.Infer(ctx, req)
	if err != nil {
		return nil, err
	}
	dets, err := a.decode(resp, len(frames))
	if err != nil {
		return nil, messages.Errorf(messages.CodeInferFailed, "model %s: %v", a.model, err)
	}
	out := make([][]messages.Box, len(frames))
	for i, ds := range dets {
		out[i] = a.toBoxes(ds, transforms[i])
	}
	return out, nil
}

// request letterboxes every frame into one FP32 tensor.
func (a *yoloAdapter) request(frames []messages.Frame) (*pb.ModelInferRequest, []yolo.Transform, error) {
	per := 3 * a.w * a.h
	tensor := make([]float32, per*len(frames))
	transforms := make([]yolo.Transform, len(frames))
	for i, f := range frames {
		if err := checkImageSize(f); err != nil {
			return nil, nil, err
		}
		img, _, err := image.Decode(bytes.NewReader(f.Data))
		if err != nil {
			return nil, nil, messages.Errorf(messages.CodeBadFrame, "frame %d: decode %s: %v", f.Seq, f.Codec, err)
		}
		b := img.Bounds()
		transforms[i] = yolo.NewTransform(b.Dx(), b.Dy(), a.w, a.h)
		transforms[i].Fill(tensor[i*per:(i+1)*per], img, a.opt.Area)
	}
	shape := []int64{3, int64(a.h), int64(a.w)}
	if a.batchDim {
		shape = append([]int64{int64(len(frames))}, shape...)
	}
	return &pb.ModelInferRequest{
		ModelName:        a.model,
		Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: a.input, Datatype: "FP32", Shape: shape}},
		RawInputContents: [][]byte{yolo.AppendFloat32s(make([]byte, 0, 4*len(tensor)), tensor)},
	}, transforms, nil
}

// decode reads n images' detections, in input pixels.
func (a *yoloAdapter) decode(resp *pb.ModelInferResponse, n int) ([][]yolo.Box, error) {
	if a.raw != "" {
		out, err := findOutput(resp, a.raw)
		if err != nil {
			return nil, err
		}
		data, err := out.floats()
		if err != nil {
			return nil, err
		}
		shape := out.shape
		if !a.batchDim {
			shape = append([]int64{1}, shape...)
		}
		if len(shape) != 3 || shape[0] != int64(n) {
			return nil, fmt.Errorf("output %q shape %v for %d images", a.raw, out.shape, n)
		}
		return yolo.DecodeRaw(data, shape, len(a.labels), a.opt)
	}
	return a.decodeNMS(resp, n)
}

func (a *yoloAdapter) decodeNMS(resp *pb.ModelInferResponse, n int) ([][]yolo.Box, error) {
	var o yolo.NMSOutput
	var err error
	if o.NumDets, err = intsOf(resp, a.nms[0]); err == nil {
		if o.Boxes, err = floatsOf(resp, a.nms[1]); err == nil {
			if o.Scores, err = floatsOf(resp, a.nms[2]); err == nil {
				o.Classes, err = intsOf(resp, a.nms[3])
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if len(o.NumDets) != n {
		return nil, fmt.Errorf("%s has %d entries for %d images", a.nms[0], len(o.NumDets), n)
	}
	if n > 0 {
		o.K = len(o.Scores) / n
	}
	return yolo.DecodeNMS(o, len(a.labels))
}

// toBoxes maps detections to frame pixels as boxes with class names.
func (a *yoloAdapter) toBoxes(ds []yolo.Box, t yolo.Transform) []messages.Box {
	out := make([]messages.Box, 0, len(ds))
	for _, d := range ds {
		f := t.ToFrame(d)
		x, y := int(math.Round(float64(f.X1))), int(math.Round(float64(f.Y1)))
		w, h := int(math.Round(float64(f.X2)))-x, int(math.Round(float64(f.Y2)))-y
		if w <= 0 || h <= 0 {
			continue // entirely in the padding
		}
		out = append(out, messages.Box{X: x, Y: y, W: w, H: h, Class: a.labels[d.Class], Conf: d.Score})
	}
	return out
}

// checkImageSize reads only the image's header and refuses an image whose
// size is not the frame's (already bounded by Frame.Validate), so that a
// small file claiming a huge image is refused before decoding allocates it.
func checkImageSize(f messages.Frame) error {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(f.Data))
	if err != nil {
		return messages.Errorf(messages.CodeBadFrame, "frame %d: decode %s: %v", f.Seq, f.Codec, err)
	}
	if cfg.Width != f.Width || cfg.Height != f.Height {
		return messages.Errorf(messages.CodeBadFrame, "frame %d: image is %dx%d, frame says %dx%d",
			f.Seq, cfg.Width, cfg.Height, f.Width, f.Height)
	}
	return nil
}
