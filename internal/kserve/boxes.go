package kserve

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Names of the boxes-model contract.
const (
	// InputImage is the input tensor holding encoded images, one per element.
	InputImage = "IMAGE"
	// OutputDetections is the output tensor holding one JSON box array per image.
	OutputDetections = "DETECTIONS"
	// DatatypeBytes is the protocol's datatype string for variable-length bytes.
	DatatypeBytes = "BYTES"
	// PlatformBoxes is the platform string inferd reports for boxes models.
	PlatformBoxes = "screenfleet_boxes"
)

// ErrInvalidRequest matches (errors.Is) every error DecodeBoxesRequest
// returns: the request is the caller's fault and must not be retried.
var ErrInvalidRequest = errors.New("invalid inference request")

// ErrInvalidResponse is wrapped by every error DecodeBoxesResponse returns.
var ErrInvalidResponse = errors.New("invalid inference response")

// invalidError is a request error whose text is exactly what is wrong, so a
// server can pass it to its client unchanged, yet errors.Is still finds
// ErrInvalidRequest.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func (e *invalidError) Is(target error) bool { return target == ErrInvalidRequest }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// NewBoxesRequest builds a ModelInferRequest for a boxes model carrying
// images as one raw BYTES tensor of shape [len(images)], the layout Triton's
// own clients send.
func NewBoxesRequest(model string, images [][]byte) *inferencepb.ModelInferRequest {
	return &inferencepb.ModelInferRequest{
		ModelName: model,
		Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{{
			Name:     InputImage,
			Datatype: DatatypeBytes,
			Shape:    []int64{int64(len(images))},
		}},
		Outputs: []*inferencepb.ModelInferRequest_InferRequestedOutputTensor{
			{Name: OutputDetections},
		},
		RawInputContents: [][]byte{EncodeBytesTensor(images)},
	}
}

// DecodeBoxesRequest checks req against the boxes-model contract and returns
// its images (aliasing req). The model name is not checked. A batch larger
// than maxBatch is refused. Every error matches ErrInvalidRequest and says
// exactly what is wrong.
func DecodeBoxesRequest(req *inferencepb.ModelInferRequest, maxBatch int) ([][]byte, error) {
	in, err := imageInput(req.GetInputs())
	if err != nil {
		return nil, err
	}
	n, err := batchSize(in.GetShape(), maxBatch)
	if err != nil {
		return nil, err
	}
	if err := checkRequestedOutputs(req.GetOutputs()); err != nil {
		return nil, err
	}
	if raw := req.GetRawInputContents(); len(raw) > 0 {
		if in.GetContents() != nil {
			return nil, invalidf("input %q: contents must not be set when raw_input_contents is used", InputImage)
		}
		if len(raw) != 1 {
			return nil, invalidf("raw_input_contents has %d entries for 1 input", len(raw))
		}
		images, err := DecodeBytesTensor(raw[0], n)
		if err != nil {
			return nil, invalidf("input %q: %v", InputImage, err)
		}
		return images, nil
	}
	return typedImages(in.GetContents(), n)
}

// imageInput returns the single IMAGE input of inputs.
func imageInput(inputs []*inferencepb.ModelInferRequest_InferInputTensor) (
	*inferencepb.ModelInferRequest_InferInputTensor, error) {
	if len(inputs) == 0 {
		return nil, invalidf("no inputs; the model takes input %q", InputImage)
	}
	for i, in := range inputs {
		if in.GetName() != InputImage {
			return nil, invalidf("unexpected input %q; the model takes only %q", in.GetName(), InputImage)
		}
		if i > 0 {
			return nil, invalidf("input %q given %d times", InputImage, len(inputs))
		}
	}
	in := inputs[0]
	if in.GetDatatype() != DatatypeBytes {
		return nil, invalidf("input %q: datatype %q, want %q", InputImage, in.GetDatatype(), DatatypeBytes)
	}
	return in, nil
}

// batchSize reads N from a shape of [N] or [N, 1]; the second form is what a
// client sends to a Triton model whose config declares dims [1].
func batchSize(shape []int64, maxBatch int) (int, error) {
	if len(shape) == 0 || len(shape) > 2 || (len(shape) == 2 && shape[1] != 1) {
		return 0, invalidf("input %q: shape %v, want [N] for a batch of N images", InputImage, shape)
	}
	n := shape[0]
	if n < 1 {
		return 0, invalidf("input %q: batch size %d, want at least 1", InputImage, n)
	}
	if n > int64(maxBatch) {
		return 0, invalidf("input %q: batch size %d exceeds max_batch_size %d", InputImage, n, maxBatch)
	}
	return int(n), nil
}

func checkRequestedOutputs(outs []*inferencepb.ModelInferRequest_InferRequestedOutputTensor) error {
	for _, o := range outs {
		if o.GetName() != OutputDetections {
			return invalidf("unknown output %q; the model has only %q", o.GetName(), OutputDetections)
		}
	}
	return nil
}

// typedImages takes the images from contents.bytes_contents.
func typedImages(c *inferencepb.InferTensorContents, n int) ([][]byte, error) {
	images := c.GetBytesContents()
	if len(images) == 0 {
		return nil, invalidf("input %q: no data; set raw_input_contents or contents.bytes_contents", InputImage)
	}
	if len(images) != n {
		return nil, invalidf("input %q: shape says %d elements but bytes_contents has %d",
			InputImage, n, len(images))
	}
	return images, nil
}

// NewBoxesResponse builds the reply of a boxes model: one DETECTIONS tensor
// of shape [len(boxes)] in raw_output_contents, element i the JSON array of
// boxes[i] ("[]" when it has none).
func NewBoxesResponse(model, id string, boxes [][]messages.Box) (*inferencepb.ModelInferResponse, error) {
	elems := make([][]byte, len(boxes))
	for i, bs := range boxes {
		if bs == nil {
			bs = []messages.Box{}
		}
		js, err := json.Marshal(bs)
		if err != nil {
			return nil, fmt.Errorf("encode detections %d: %w", i, err)
		}
		elems[i] = js
	}
	return &inferencepb.ModelInferResponse{
		ModelName: model,
		Id:        id,
		Outputs: []*inferencepb.ModelInferResponse_InferOutputTensor{{
			Name:     OutputDetections,
			Datatype: DatatypeBytes,
			Shape:    []int64{int64(len(boxes))},
		}},
		RawOutputContents: [][]byte{EncodeBytesTensor(elems)},
	}, nil
}

// DecodeBoxesResponse reads the boxes of n images from a boxes-model reply.
// Data is taken from raw_output_contents, or from bytes_contents when the
// reply has no raw data. Errors wrap ErrInvalidResponse.
func DecodeBoxesResponse(resp *inferencepb.ModelInferResponse, n int) ([][]messages.Box, error) {
	elems, err := detectionElements(resp, n)
	if err != nil {
		return nil, err
	}
	out := make([][]messages.Box, len(elems))
	for i, e := range elems {
		if err := json.Unmarshal(e, &out[i]); err != nil {
			return nil, fmt.Errorf("%w: %s element %d: %w", ErrInvalidResponse, OutputDetections, i, err)
		}
	}
	return out, nil
}

// detectionElements finds the DETECTIONS tensor and splits it into n elements.
func detectionElements(resp *inferencepb.ModelInferResponse, n int) ([][]byte, error) {
	for i, out := range resp.GetOutputs() {
		if out.GetName() != OutputDetections {
			continue
		}
		if out.GetDatatype() != DatatypeBytes {
			return nil, fmt.Errorf("%w: %s datatype %q, want %q",
				ErrInvalidResponse, OutputDetections, out.GetDatatype(), DatatypeBytes)
		}
		if count := shapeElements(out.GetShape()); count != int64(n) {
			return nil, fmt.Errorf("%w: %s shape %v for %d images",
				ErrInvalidResponse, OutputDetections, out.GetShape(), n)
		}
		raw := resp.GetRawOutputContents()
		if len(raw) == 0 {
			return typedDetections(out.GetContents(), n)
		}
		if i >= len(raw) {
			return nil, fmt.Errorf("%w: no raw_output_contents entry for output %d (%s)",
				ErrInvalidResponse, i, OutputDetections)
		}
		elems, err := DecodeBytesTensor(raw[i], n)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidResponse, OutputDetections, err)
		}
		return elems, nil
	}
	return nil, fmt.Errorf("%w: no %s output", ErrInvalidResponse, OutputDetections)
}

func typedDetections(c *inferencepb.InferTensorContents, n int) ([][]byte, error) {
	elems := c.GetBytesContents()
	if len(elems) != n {
		return nil, fmt.Errorf("%w: %s has %d typed elements for %d images",
			ErrInvalidResponse, OutputDetections, len(elems), n)
	}
	return elems, nil
}

// shapeElements is the element count of shape, or -1 for a negative or
// overflowing dimension.
func shapeElements(shape []int64) int64 {
	count := int64(1)
	for _, d := range shape {
		if d < 0 || (d > 0 && count > (1<<62)/d) {
			return -1
		}
		count *= d
	}
	return count
}
