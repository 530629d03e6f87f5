package worker_test

import (
	"context"
	"fmt"
	"image"
	"slices"
	"sync"
	"testing"

	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/internal/worker"
)

// shapeBackend is an EfficientNMS YOLOv8 model whose config says maxBatch
// (0: no batch dimension) and that records the input shape of every call.
type shapeBackend struct {
	nmsBackend
	maxBatch int32

	mu     sync.Mutex
	shapes [][]int64
}

func (b *shapeBackend) Config(_ context.Context, model string) (*pb.ModelConfig, error) {
	return &pb.ModelConfig{Name: model, MaxBatchSize: b.maxBatch}, nil
}

func (b *shapeBackend) Metadata(ctx context.Context, model string) (*pb.ModelMetadataResponse, error) {
	md, err := b.nmsBackend.Metadata(ctx, model)
	if err == nil && b.maxBatch == 0 {
		md.Inputs[0].Shape = []int64{3, 640, 640}
	}
	return md, err
}

func (b *shapeBackend) Infer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	shape := slices.Clone(req.GetInputs()[0].GetShape())
	b.mu.Lock()
	b.shapes = append(b.shapes, shape)
	b.mu.Unlock()
	if b.maxBatch == 0 {
		// Answer as for a batch of one: the outputs' leading 1 is what
		// the worker's decoder of a batch-less model reads past.
		req = &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{
			{Shape: append([]int64{1}, shape...)}}}
	}
	return b.nmsBackend.Infer(ctx, req)
}

// C09: the batch dimension is prepended if and only if max_batch_size > 0,
// and no call carries more frames than it allows: for a model at 0, 1 frame
// and then 5 at once go as six [3,640,640] calls; at 8, as [n,3,640,640]
// with n from 1 to 8 and six frames in all.
func TestRequestShapesFollowMaxBatchSize(t *testing.T) {
	for _, maxBatch := range []int32{0, 8} {
		t.Run(fmt.Sprintf("max_batch_size %d", maxBatch), func(t *testing.T) {
			url := startNATS(t)
			nc := connect(t, url)
			b := &shapeBackend{maxBatch: maxBatch, nmsBackend: nmsBackend{
				outputs: []*pb.ModelMetadataResponse_TensorMetadata{
					{Name: "num_dets"}, {Name: "det_boxes"}, {Name: "det_scores"}, {Name: "det_classes"}}}}
			w, _ := startWorker(t, worker.Config{NATSURL: url, Models: []string{"det"},
				Labels: map[string]string{"det": labelsFile(t, "button\nlink\n")}}, b)
			waitReady(t, w)
			png := blankPNG(t, 1024, 600)
			inferFrame(t, nc, "det", png, image.Pt(1024, 600))
			var wg sync.WaitGroup
			for range 5 {
				wg.Go(func() { inferFrame(t, nc, "det", png, image.Pt(1024, 600)) })
			}
			wg.Wait()

			b.mu.Lock()
			defer b.mu.Unlock()
			frames := 0
			for i, s := range b.shapes {
				switch {
				case maxBatch == 0 && !slices.Equal(s, []int64{3, 640, 640}):
					t.Errorf("call %d shape %v, want [3 640 640]", i, s)
				case maxBatch > 0 && (len(s) != 4 || s[0] < 1 || s[0] > int64(maxBatch) ||
					!slices.Equal(s[1:], []int64{3, 640, 640})):
					t.Errorf("call %d shape %v, want [1..%d 3 640 640]", i, s, maxBatch)
				case i == 0 && maxBatch > 0 && s[0] != 1:
					t.Errorf("the single frame went as %v", s)
				}
				if len(s) == 4 {
					frames += int(s[0])
				} else {
					frames++
				}
			}
			if maxBatch == 0 && len(b.shapes) != 6 || maxBatch > 0 && frames != 6 {
				t.Errorf("shapes %v, want six frames", b.shapes)
			}
		})
	}
}
