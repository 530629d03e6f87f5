package yolo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
)

// ErrLayout is wrapped by every error about a tensor whose shape does not
// fit the model's class list: decoding it anyway gives garbage (C12).
var ErrLayout = errors.New("yolo output layout")

// Box is one detection in corner form, in the pixel space of the tensor it
// came from (input pixels) or, after Transform.ToFrame, of the frame.
type Box struct {
	X1, Y1, X2, Y2 float32
	Score          float32
	Class          int
}

// Options tune decoding. Zero fields take the defaults below.
type Options struct {
	// ScoreThreshold drops boxes whose best class score is lower.
	ScoreThreshold float32
	// IoUThreshold is the overlap above which NMS keeps only the best box.
	IoUThreshold float32
	// PerClass runs NMS per class; the default is class-agnostic, so one UI
	// element is never reported as two classes (C12).
	PerClass bool
	// MaxDetections caps the boxes kept per image.
	MaxDetections int
	// Area resizes frames that shrink by averaging rather than bilinear
	// sampling (see Transform.Fill): for detectors that need thin lines.
	Area bool
}

// Defaults of Options, the values Ultralytics' ONNX example uses for score
// and IoU; 300 is Ultralytics' own max_det.
const (
	DefaultScoreThreshold = 0.25
	DefaultIoUThreshold   = 0.5
	DefaultMaxDetections  = 300
)

func (o Options) withDefaults() Options {
	if o.ScoreThreshold == 0 {
		o.ScoreThreshold = DefaultScoreThreshold
	}
	if o.IoUThreshold == 0 {
		o.IoUThreshold = DefaultIoUThreshold
	}
	if o.MaxDetections == 0 {
		o.MaxDetections = DefaultMaxDetections
	}
	return o
}

// Layout says how a raw output tensor is laid out.
type Layout struct {
	Batch, Anchors int
	// ChannelMajor is Ultralytics' [B, 4+nc, anchors]; false is the
	// transposed [B, anchors, 4+nc] some exports produce.
	ChannelMajor bool
}

// LayoutOf derives the layout of a raw output of shape [B, d1, d2] (or
// [d1, d2], batch 1) for a model of nc classes. It fails, wrapping ErrLayout,
// when 4+nc matches neither dimension, or both (the tensor is ambiguous).
// Dimensions of -1 (dynamic, from metadata) match nothing.
func LayoutOf(shape []int64, nc int) (Layout, error) {
	if len(shape) == 2 {
		shape = append([]int64{1}, shape...)
	}
	if len(shape) != 3 || nc < 1 {
		return Layout{}, fmt.Errorf("%w: shape %v with %d classes, want [B, 4+%d, anchors]", ErrLayout,
			shape, nc, nc)
	}
	ch := int64(4 + nc)
	l := Layout{Batch: int(shape[0])}
	switch {
	case shape[1] == ch && shape[2] == ch:
		return Layout{}, fmt.Errorf("%w: shape %v is ambiguous: both dimensions are 4+%d", ErrLayout, shape, nc)
	case shape[1] == ch:
		l.ChannelMajor, l.Anchors = true, int(shape[2])
	case shape[2] == ch:
		l.Anchors = int(shape[1])
	default:
		return Layout{}, fmt.Errorf("%w: shape %v has no dimension of 4+%d for %d classes: wrong labels file for this model?",
			ErrLayout, shape, nc, nc)
	}
	return l, nil
}

// DecodeRaw decodes a raw YOLOv8 output (no objectness: score is the best
// class score) into boxes per image, in input pixels, after NMS.
func DecodeRaw(data []float32, shape []int64, nc int, opt Options) ([][]Box, error) {
	l, err := LayoutOf(shape, nc)
	if err != nil {
		return nil, err
	}
	if l.Batch < 1 || l.Anchors < 0 || len(data) != l.Batch*(4+nc)*l.Anchors {
		return nil, fmt.Errorf("%w: %d values for shape %v", ErrLayout, len(data), shape)
	}
	opt = opt.withDefaults()
	out := make([][]Box, l.Batch)
	per := (4 + nc) * l.Anchors
	for b := range l.Batch {
		out[b] = NMS(candidates(data[b*per:(b+1)*per], l, nc, opt.ScoreThreshold), opt)
	}
	return out, nil
}

// candidates returns the anchors of one image scoring at least min.
func candidates(img []float32, l Layout, nc int, minScore float32) []Box {
	at := func(c, a int) float32 {
		if l.ChannelMajor {
			return img[c*l.Anchors+a]
		}
		return img[a*(4+nc)+c]
	}
	var boxes []Box
	for a := range l.Anchors {
		best, cls := float32(math.Inf(-1)), 0
		for c := range nc {
			if s := at(4+c, a); s > best {
				best, cls = s, c
			}
		}
		if best < minScore {
			continue
		}
		cx, cy, w, h := at(0, a), at(1, a), at(2, a), at(3, a)
		boxes = append(boxes, Box{X1: cx - w/2, Y1: cy - h/2, X2: cx + w/2, Y2: cy + h/2, Score: best,
			Class: cls})
	}
	return boxes
}

// NMS keeps the best-scoring boxes, dropping any that overlaps a kept box
// (of the same class, with opt.PerClass) by more than opt.IoUThreshold.
func NMS(boxes []Box, opt Options) []Box {
	opt = opt.withDefaults()
	sort.SliceStable(boxes, func(i, j int) bool { return boxes[i].Score > boxes[j].Score })
	kept := []Box{}
	for _, b := range boxes {
		if len(kept) == opt.MaxDetections {
			break
		}
		if !suppressed(b, kept, opt) {
			kept = append(kept, b)
		}
	}
	return kept
}

func suppressed(b Box, kept []Box, opt Options) bool {
	for _, k := range kept {
		if (!opt.PerClass || k.Class == b.Class) && IoU(b, k) > opt.IoUThreshold {
			return true
		}
	}
	return false
}

// IoU is the intersection over union of two boxes.
func IoU(a, b Box) float32 {
	w := min(a.X2, b.X2) - max(a.X1, b.X1)
	h := min(a.Y2, b.Y2) - max(a.Y1, b.Y1)
	if w <= 0 || h <= 0 {
		return 0
	}
	inter := w * h
	union := (a.X2-a.X1)*(a.Y2-a.Y1) + (b.X2-b.X1)*(b.Y2-b.Y1) - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

// NMSOutput is the EfficientNMS output form, flattened: NumDets [B],
// Boxes [B*K*4] corners in input pixels, Scores [B*K], Classes [B*K].
type NMSOutput struct {
	NumDets []int32
	Boxes   []float32
	Scores  []float32
	Classes []int32
	K       int // max_output_boxes
}

// DecodeNMS reads the first NumDets[i] rows of each image of an
// EfficientNMS output. Class numbers must be below nc.
func DecodeNMS(o NMSOutput, nc int) ([][]Box, error) {
	n := len(o.NumDets)
	if o.K < 0 || len(o.Boxes) != n*o.K*4 || len(o.Scores) != n*o.K || len(o.Classes) != n*o.K {
		return nil, fmt.Errorf("%w: EfficientNMS tensors disagree: %d images, k %d, %d boxes, %d scores, %d classes",
			ErrLayout, n, o.K, len(o.Boxes), len(o.Scores), len(o.Classes))
	}
	out := make([][]Box, n)
	for b := range n {
		num := int(o.NumDets[b])
		if num < 0 || num > o.K {
			return nil, fmt.Errorf("%w: image %d: num_dets %d outside 0..%d", ErrLayout, b, num, o.K)
		}
		out[b] = make([]Box, 0, num)
		for i := range num {
			r := b*o.K + i
			cls := int(o.Classes[r])
			if cls < 0 || cls >= nc {
				return nil, fmt.Errorf("%w: image %d: class %d outside the %d labels", ErrLayout, b, cls, nc)
			}
			x := o.Boxes[r*4 : r*4+4]
			out[b] = append(out[b], Box{X1: x[0], Y1: x[1], X2: x[2], Y2: x[3], Score: o.Scores[r], Class: cls})
		}
	}
	return out, nil
}

// Float32s reads little-endian FP32 values from a raw tensor.
func Float32s(raw []byte) ([]float32, error) {
	if len(raw)%4 != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of FP32 values", ErrLayout, len(raw))
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[i*4:]))
	}
	return out, nil
}

// Float16s reads little-endian IEEE half-precision values, as TensorRT
// plans built for FP16 return them, widening them to float32.
func Float16s(raw []byte) ([]float32, error) {
	if len(raw)%2 != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of FP16 values", ErrLayout, len(raw))
	}
	out := make([]float32, len(raw)/2)
	for i := range out {
		out[i] = halfToFloat(binary.LittleEndian.Uint16(raw[i*2:]))
	}
	return out, nil
}

func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h & 0x3ff)
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: frac/1024 * 2^-14
		v := float32(frac) / 1024 / (1 << 14)
		if sign != 0 {
			v = -v
		}
		return v
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
}

// Int32s reads little-endian INT32 values from a raw tensor.
func Int32s(raw []byte) ([]int32, error) {
	if len(raw)%4 != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of INT32 values", ErrLayout, len(raw))
	}
	out := make([]int32, len(raw)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(raw[i*4:]))
	}
	return out, nil
}

// AppendFloat32s appends vs as little-endian FP32, the raw tensor layout.
func AppendFloat32s(dst []byte, vs []float32) []byte {
	for _, v := range vs {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
	}
	return dst
}

// Int64s reads little-endian INT64 values from a raw tensor.
func Int64s(raw []byte) ([]int64, error) {
	if len(raw)%8 != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of INT64 values", ErrLayout, len(raw))
	}
	out := make([]int64, len(raw)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(raw[i*8:]))
	}
	return out, nil
}
