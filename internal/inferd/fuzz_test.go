package inferd

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"testing"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/screenfleet/screenfleet/internal/kserve"
	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/internal/ocr"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// sizeModel answers one box per image holding the image's size, after
// checking that it only ever sees images that passed the server's checks.
type sizeModel struct{ t *testing.T }

func (m sizeModel) Name() string { return "size" }

func (m sizeModel) Metadata() ModelInfo { return ModelInfo{MaxBatch: 4} }

func (m sizeModel) Infer(_ context.Context, images [][]byte) ([][]messages.Box, error) {
	out := make([][]messages.Box, len(images))
	for i, img := range images {
		cfg, err := ocr.CheckImage(img)
		if err != nil {
			m.t.Fatalf("model got image %d that fails the check: %v", i, err)
		}
		out[i] = []messages.Box{{W: cfg.Width, H: cfg.Height}}
	}
	return out, nil
}

// FuzzModelInfer drives the whole request path short of OCR (protocol
// decoding, image checks, reply encoding) with arbitrary wire bytes.
func FuzzModelInfer(f *testing.F) {
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewGray(image.Rect(0, 0, 3, 2))); err != nil {
		f.Fatal(err)
	}
	for _, req := range []*pb.ModelInferRequest{
		kserve.NewBoxesRequest("size", [][]byte{img.Bytes(), img.Bytes()}),
		kserve.NewBoxesRequest("size", [][]byte{img.Bytes()[:20]}),
		kserve.NewBoxesRequest("ocr", [][]byte{img.Bytes()}),
	} {
		wire, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		var req pb.ModelInferRequest
		if proto.Unmarshal(wire, &req) != nil {
			return
		}
		svc, err := newService([]served{sizeModel{t}}, "fuzz", newMetrics(), zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := svc.ModelInfer(t.Context(), &req)
		switch status.Code(err) {
		case codes.OK:
			n := int(req.GetInputs()[0].GetShape()[0])
			if boxes, err := kserve.DecodeBoxesResponse(resp, n); err != nil || len(boxes) != n {
				t.Fatalf("reply does not decode to %d box lists: %v", n, err)
			}
		case codes.InvalidArgument, codes.NotFound:
		default:
			t.Fatalf("unexpected status %v", err)
		}
	})
}
