package worker

import (
	"fmt"

	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/internal/yolo"
)

// outputTensor is one output of a ModelInfer reply with its data.
type outputTensor struct {
	name, datatype string
	shape          []int64
	raw            []byte
	typed          *pb.InferTensorContents
}

// findOutput returns the output called name. Data comes from
// raw_output_contents (what Triton always sends), else from typed contents.
func findOutput(resp *pb.ModelInferResponse, name string) (outputTensor, error) {
	raw := resp.GetRawOutputContents()
	for i, o := range resp.GetOutputs() {
		if o.GetName() != name {
			continue
		}
		t := outputTensor{name: name, datatype: o.GetDatatype(), shape: o.GetShape(), typed: o.GetContents()}
		if len(raw) > 0 {
			if i >= len(raw) {
				return t, fmt.Errorf("no raw_output_contents entry for output %q", name)
			}
			t.raw = raw[i]
		}
		return t, nil
	}
	return outputTensor{}, fmt.Errorf("reply has no output %q", name)
}

// floats reads an FP32 or FP16 output as float32.
func (t outputTensor) floats() ([]float32, error) {
	switch {
	case t.raw == nil && t.datatype == "FP32":
		return t.typed.GetFp32Contents(), nil
	case t.datatype == "FP32":
		return yolo.Float32s(t.raw)
	case t.datatype == "FP16":
		return yolo.Float16s(t.raw)
	}
	return nil, fmt.Errorf("output %q: datatype %q, want FP32 or FP16", t.name, t.datatype)
}

// ints reads an INT32 (or INT64) output as int32.
func (t outputTensor) ints() ([]int32, error) {
	switch {
	case t.raw == nil && t.datatype == "INT32":
		return t.typed.GetIntContents(), nil
	case t.datatype == "INT32":
		return yolo.Int32s(t.raw)
	case t.datatype == "INT64":
		v, err := yolo.Int64s(t.raw)
		if t.raw == nil {
			v, err = t.typed.GetInt64Contents(), nil
		}
		out := make([]int32, len(v))
		for i, x := range v {
			out[i] = int32(x)
		}
		return out, err
	case t.datatype == "FP32": // some exports give classes as floats
		f, err := t.floats()
		out := make([]int32, len(f))
		for i, x := range f {
			out[i] = int32(x)
		}
		return out, err
	}
	return nil, fmt.Errorf("output %q: datatype %q, want INT32", t.name, t.datatype)
}

func floatsOf(resp *pb.ModelInferResponse, name string) ([]float32, error) {
	t, err := findOutput(resp, name)
	if err != nil {
		return nil, err
	}
	return t.floats()
}

func intsOf(resp *pb.ModelInferResponse, name string) ([]int32, error) {
	t, err := findOutput(resp, name)
	if err != nil {
		return nil, err
	}
	return t.ints()
}
