package kserve

import (
	"errors"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

const testMaxBatch = 8

func TestBoxesRequestRoundTrip(t *testing.T) {
	images := [][]byte{[]byte("png-0"), {}, []byte("jpeg-2")}
	req := NewBoxesRequest("ocr", images)
	if req.GetModelName() != "ocr" {
		t.Errorf("model %q, want ocr", req.GetModelName())
	}
	got, err := DecodeBoxesRequest(req, testMaxBatch)
	if err != nil {
		t.Fatal(err)
	}
	assertElems(t, got, images)
}

func TestDecodeBoxesRequestTyped(t *testing.T) {
	images := [][]byte{[]byte("a"), []byte("b")}
	for _, shape := range [][]int64{{2}, {2, 1}} {
		req := typedRequest(shape, images)
		got, err := DecodeBoxesRequest(req, testMaxBatch)
		if err != nil {
			t.Fatalf("shape %v: %v", shape, err)
		}
		assertElems(t, got, images)
	}
}

func TestDecodeBoxesRequestErrors(t *testing.T) {
	one := [][]byte{[]byte("img")}
	tests := []struct {
		name string
		edit func(r *pb.ModelInferRequest)
		want string
	}{
		{"no inputs", func(r *pb.ModelInferRequest) { r.Inputs = nil },
			`no inputs; the model takes input "IMAGE"`},
		{"wrong input name", func(r *pb.ModelInferRequest) { r.Inputs[0].Name = "images" },
			`unexpected input "images"; the model takes only "IMAGE"`},
		{"input twice", func(r *pb.ModelInferRequest) { r.Inputs = append(r.Inputs, r.Inputs[0]) },
			`input "IMAGE" given 2 times`},
		{"uint8 datatype", func(r *pb.ModelInferRequest) { r.Inputs[0].Datatype = "UINT8" },
			`input "IMAGE": datatype "UINT8", want "BYTES"`},
		{"image tensor shape", func(r *pb.ModelInferRequest) { r.Inputs[0].Shape = []int64{1, 3, 640, 640} },
			`input "IMAGE": shape [1 3 640 640], want [N] for a batch of N images`},
		{"empty shape", func(r *pb.ModelInferRequest) { r.Inputs[0].Shape = nil },
			`input "IMAGE": shape [], want [N] for a batch of N images`},
		{"zero batch", func(r *pb.ModelInferRequest) { r.Inputs[0].Shape = []int64{0} },
			`input "IMAGE": batch size 0, want at least 1`},
		{"batch too big", func(r *pb.ModelInferRequest) { r.Inputs[0].Shape = []int64{9} },
			`input "IMAGE": batch size 9 exceeds max_batch_size 8`},
		{"unknown output", func(r *pb.ModelInferRequest) { r.Outputs[0].Name = "output0" },
			`unknown output "output0"; the model has only "DETECTIONS"`},
		{"raw and typed", func(r *pb.ModelInferRequest) {
			r.Inputs[0].Contents = &pb.InferTensorContents{BytesContents: one}
		}, `input "IMAGE": contents must not be set when raw_input_contents is used`},
		{"two raw entries", func(r *pb.ModelInferRequest) {
			r.RawInputContents = append(r.RawInputContents,
				nil)
		},
			`raw_input_contents has 2 entries for 1 input`},
		{"raw without prefix", func(r *pb.ModelInferRequest) { r.RawInputContents[0] = []byte("img") },
			`input "IMAGE": malformed BYTES tensor: element 0: 3 bytes left, too few for a length prefix`},
		{"shape disagrees with raw", func(r *pb.ModelInferRequest) { r.Inputs[0].Shape = []int64{2} },
			`input "IMAGE": malformed BYTES tensor: 1 elements, want 2`},
		{"no data", func(r *pb.ModelInferRequest) { r.RawInputContents = nil },
			`input "IMAGE": no data; set raw_input_contents or contents.bytes_contents`},
		{"typed count", func(r *pb.ModelInferRequest) {
			r.RawInputContents = nil
			r.Inputs[0].Contents = &pb.InferTensorContents{BytesContents: [][]byte{{1}, {2}}}
		}, `input "IMAGE": shape says 1 elements but bytes_contents has 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := NewBoxesRequest("ocr", one)
			tt.edit(req)
			_, err := DecodeBoxesRequest(req, testMaxBatch)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("error %v does not match ErrInvalidRequest", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error %q\nwant      %q", err, tt.want)
			}
		})
	}
}

func TestBoxesResponseRoundTrip(t *testing.T) {
	boxes := [][]messages.Box{
		{
			{X: 10, Y: 20, W: 30, H: 12, Text: "Sign in", Class: "text", Conf: 0.9, Level: "line", Line: 1},
			{X: 10, Y: 20, W: 12, H: 12, Text: "Sign", Class: "text", Conf: 0.95, Level: "word", Line: 1},
		},
		nil,
	}
	resp, err := NewBoxesResponse("ocr", "req-1", boxes)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetRawOutputContents()) != 1 || resp.GetOutputs()[0].GetContents() != nil {
		t.Fatal("reply must carry its data in raw_output_contents only")
	}
	elems, err := DecodeBytesTensor(resp.GetRawOutputContents()[0], 2)
	if err != nil {
		t.Fatal(err)
	}
	if string(elems[1]) != "[]" {
		t.Errorf("no boxes encoded as %q, want []", elems[1])
	}
	got, err := DecodeBoxesResponse(resp, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got[0], boxes[0]) || len(got[1]) != 0 {
		t.Fatalf("decoded %+v, want %+v", got, boxes)
	}
}

func TestDecodeBoxesResponseTypedFallback(t *testing.T) {
	resp := &pb.ModelInferResponse{Outputs: []*pb.ModelInferResponse_InferOutputTensor{{
		Name: OutputDetections, Datatype: DatatypeBytes, Shape: []int64{1},
		Contents: &pb.InferTensorContents{BytesContents: [][]byte{[]byte(`[{"x":1,"y":2,"w":3,"h":4,"conf":0.5}]`)}},
	}}}
	got, err := DecodeBoxesResponse(resp, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := messages.Box{X: 1, Y: 2, W: 3, H: 4, Conf: 0.5}
	if len(got) != 1 || len(got[0]) != 1 || got[0][0] != want {
		t.Fatalf("decoded %+v, want [[%+v]]", got, want)
	}
}

func TestDecodeBoxesResponseErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *pb.ModelInferResponse)
		want string
	}{
		{"no output", func(r *pb.ModelInferResponse) { r.Outputs[0].Name = "x" },
			"invalid inference response: no DETECTIONS output"},
		{"datatype", func(r *pb.ModelInferResponse) { r.Outputs[0].Datatype = "UINT8" },
			`invalid inference response: DETECTIONS datatype "UINT8", want "BYTES"`},
		{"shape", func(r *pb.ModelInferResponse) { r.Outputs[0].Shape = []int64{2} },
			"invalid inference response: DETECTIONS shape [2] for 1 images"},
		{"truncated", func(r *pb.ModelInferResponse) { r.RawOutputContents[0] = r.RawOutputContents[0][:5] },
			"invalid inference response: DETECTIONS: malformed BYTES tensor: element 0 declares 2 bytes but 1 remain"},
		{"missing raw entry", func(r *pb.ModelInferResponse) {
			r.Outputs = append([]*pb.ModelInferResponse_InferOutputTensor{{Name: "other"}}, r.Outputs...)
		}, "invalid inference response: no raw_output_contents entry for output 1 (DETECTIONS)"},
		{"bad json", func(r *pb.ModelInferResponse) { r.RawOutputContents[0] = EncodeBytesTensor([][]byte{[]byte("{")}) },
			"invalid inference response: DETECTIONS element 0: unexpected end of JSON input"},
		{"typed count", func(r *pb.ModelInferResponse) { r.RawOutputContents = nil },
			"invalid inference response: DETECTIONS has 0 typed elements for 1 images"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := NewBoxesResponse("ocr", "", [][]messages.Box{nil})
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(resp)
			_, err = DecodeBoxesResponse(resp, 1)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalidResponse) {
				t.Errorf("error %v does not match ErrInvalidResponse", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error %q\nwant      %q", err, tt.want)
			}
		})
	}
}

func FuzzDecodeBoxesRequest(f *testing.F) {
	for _, req := range []*pb.ModelInferRequest{
		NewBoxesRequest("ocr", [][]byte{[]byte("a"), []byte("bc")}),
		typedRequest([]int64{1, 1}, [][]byte{[]byte("x")}),
	} {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		var req pb.ModelInferRequest
		if proto.Unmarshal(wire, &req) != nil {
			return
		}
		images, err := DecodeBoxesRequest(&req, testMaxBatch)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error %v does not match ErrInvalidRequest", err)
			}
			return
		}
		if len(images) < 1 || len(images) > testMaxBatch {
			t.Fatalf("accepted a batch of %d", len(images))
		}
	})
}

func FuzzDecodeBoxesResponse(f *testing.F) {
	resp, err := NewBoxesResponse("ocr", "1", [][]messages.Box{{{X: 1, Text: "a"}}, nil})
	if err != nil {
		f.Fatal(err)
	}
	b, err := proto.Marshal(resp)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b, 2)
	f.Fuzz(func(t *testing.T, wire []byte, n int) {
		var resp pb.ModelInferResponse
		if proto.Unmarshal(wire, &resp) != nil || n < 0 || n > 64 {
			return
		}
		boxes, err := DecodeBoxesResponse(&resp, n)
		if err != nil {
			if !errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("error %v does not match ErrInvalidResponse", err)
			}
			return
		}
		if len(boxes) != n {
			t.Fatalf("%d box lists for %d images", len(boxes), n)
		}
	})
}

func typedRequest(shape []int64, images [][]byte) *pb.ModelInferRequest {
	return &pb.ModelInferRequest{
		ModelName: "ocr",
		Inputs: []*pb.ModelInferRequest_InferInputTensor{{
			Name: InputImage, Datatype: DatatypeBytes, Shape: shape,
			Contents: &pb.InferTensorContents{BytesContents: images},
		}},
	}
}
