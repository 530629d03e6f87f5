package kserve

import (
	"encoding/binary"
	"math"

	"github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
)

// FP32Input returns the data and shape of req's only input, which must be
// called name, be FP32 and hold as many values as its shape says, raw or
// typed. Every error matches ErrInvalidRequest.
func FP32Input(req *inferencepb.ModelInferRequest, name string) ([]float32, []int64, error) {
	ins := req.GetInputs()
	if len(ins) != 1 || ins[0].GetName() != name {
		return nil, nil, invalidf("want exactly one input %q", name)
	}
	in := ins[0]
	if in.GetDatatype() != "FP32" {
		return nil, nil, invalidf("input %q: datatype %q, want \"FP32\"", name, in.GetDatatype())
	}
	n := shapeElements(in.GetShape())
	if n < 0 {
		return nil, nil, invalidf("input %q: shape %v", name, in.GetShape())
	}
	data, err := fp32Data(req, in, name)
	if err != nil {
		return nil, nil, err
	}
	if int64(len(data)) != n {
		return nil, nil, invalidf("input %q: %d values for shape %v", name, len(data), in.GetShape())
	}
	return data, in.GetShape(), nil
}

func fp32Data(req *inferencepb.ModelInferRequest, in *inferencepb.ModelInferRequest_InferInputTensor,
	name string) ([]float32, error) {
	raw := req.GetRawInputContents()
	if len(raw) == 0 {
		return in.GetContents().GetFp32Contents(), nil
	}
	if in.GetContents() != nil {
		return nil, invalidf("input %q: contents must not be set when raw_input_contents is used", name)
	}
	if len(raw) != 1 || len(raw[0])%4 != 0 {
		return nil, invalidf("input %q: raw data is not one whole FP32 tensor", name)
	}
	out := make([]float32, len(raw[0])/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[0][i*4:]))
	}
	return out, nil
}

// NewFP32Response builds a reply with one FP32 output in
// raw_output_contents, the form Triton answers in.
func NewFP32Response(name string, shape []int64, data []float32) *inferencepb.ModelInferResponse {
	raw := make([]byte, 0, 4*len(data))
	for _, v := range data {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	return &inferencepb.ModelInferResponse{
		Outputs:           []*inferencepb.ModelInferResponse_InferOutputTensor{{Name: name, Datatype: "FP32", Shape: shape}},
		RawOutputContents: [][]byte{raw},
	}
}
