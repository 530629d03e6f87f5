package inferd

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/screenfleet/screenfleet/internal/kserve"
	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/internal/ocr"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// serverName is what ServerMetadata reports; Triton reports "triton".
const serverName = "inferd"

// modelVersion is the only version of every model. Clients may ask for it
// or leave the version empty.
const modelVersion = "1"

// service implements the gRPC inference protocol over a fixed set of models.
type service struct {
	pb.UnimplementedGRPCInferenceServiceServer
	models  map[string]served
	version string
	ready   atomic.Bool
	metrics *metrics
	log     zerolog.Logger
}

func newService(models []served, version string, m *metrics, log zerolog.Logger) (*service, error) {
	s := &service{models: map[string]served{}, version: version, metrics: m, log: log}
	for _, model := range models {
		if _, dup := s.models[model.Name()]; dup {
			return nil, fmt.Errorf("model %q registered twice", model.Name())
		}
		if model.Metadata().MaxBatch < 1 {
			return nil, fmt.Errorf("model %q: max batch %d, want at least 1", model.Name(),
				model.Metadata().MaxBatch)
		}
		s.models[model.Name()] = model
	}
	return s, nil
}

// ServerLive reports that the process is up.
func (s *service) ServerLive(context.Context, *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	return &pb.ServerLiveResponse{Live: true}, nil
}

// ServerReady reports whether inferd takes requests: false before it has
// started and once it is stopping.
func (s *service) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return &pb.ServerReadyResponse{Ready: s.ready.Load()}, nil
}

// ModelReady reports false, not an error, for a model inferd does not serve,
// so a readiness probe has one thing to look at.
func (s *service) ModelReady(_ context.Context, req *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	_, err := s.model(req.GetName(), req.GetVersion())
	return &pb.ModelReadyResponse{Ready: err == nil && s.ready.Load()}, nil
}

// ServerMetadata reports the server's name, version and extensions. Only
// extensions inferd really implements are listed: perf_analyzer calls
// ModelStatistics only when "statistics" is, and "binary_tensor_data" is an
// HTTP/REST extension while inferd serves no inference over HTTP.
func (s *service) ServerMetadata(context.Context,
	*pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
	return &pb.ServerMetadataResponse{
		Name:       serverName,
		Version:    s.version,
		Extensions: []string{"model_configuration"},
	}, nil
}

// ModelMetadata describes a model's tensors. With batching, a shape starts
// with the batch dimension -1.
func (s *service) ModelMetadata(_ context.Context,
	req *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	m, err := s.model(req.GetName(), req.GetVersion())
	if err != nil {
		return nil, err
	}
	if tm, ok := m.(TensorModel); ok {
		return tensorMetadata(tm), nil
	}
	tensor := func(name string) []*pb.ModelMetadataResponse_TensorMetadata {
		return []*pb.ModelMetadataResponse_TensorMetadata{
			{Name: name, Datatype: kserve.DatatypeBytes, Shape: []int64{-1}},
		}
	}
	return &pb.ModelMetadataResponse{
		Name:     m.Name(),
		Versions: []string{modelVersion},
		Platform: kserve.PlatformBoxes,
		Inputs:   tensor(kserve.InputImage),
		Outputs:  tensor(kserve.OutputDetections),
	}, nil
}

// ModelConfig returns the subset of Triton's model configuration that
// clients read. dims leave out the batch dimension, so they are empty.
func (s *service) ModelConfig(_ context.Context,
	req *pb.ModelConfigRequest) (*pb.ModelConfigResponse, error) {
	m, err := s.model(req.GetName(), req.GetVersion())
	if err != nil {
		return nil, err
	}
	if tm, ok := m.(TensorModel); ok {
		return &pb.ModelConfigResponse{Config: tensorConfig(tm)}, nil
	}
	info := m.Metadata()
	return &pb.ModelConfigResponse{Config: &pb.ModelConfig{
		Name:         m.Name(),
		Platform:     kserve.PlatformBoxes,
		Backend:      info.Backend,
		MaxBatchSize: int32(info.MaxBatch),
		Input:        []*pb.ModelInput{{Name: kserve.InputImage, DataType: pb.DataType_TYPE_STRING}},
		Output:       []*pb.ModelOutput{{Name: kserve.OutputDetections, DataType: pb.DataType_TYPE_STRING}},
	}}, nil
}

// ModelInfer runs a boxes model on a batch of images.
func (s *service) ModelInfer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse,
	error) {
	start := time.Now()
	resp, err := s.infer(ctx, req)
	s.metrics.observe(s.metricModel(req.GetModelName()), status.Code(err), time.Since(start))
	if status.Code(err) == codes.Internal {
		s.log.Warn().Err(err).Str("model", req.GetModelName()).Msg("inference failed")
	}
	return resp, err
}

func (s *service) infer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	found, err := s.model(req.GetModelName(), req.GetModelVersion())
	if err != nil {
		return nil, err
	}
	if tm, ok := found.(TensorModel); ok {
		return inferTensors(ctx, tm, req)
	}
	m := found.(Model)
	images, err := kserve.DecodeBoxesRequest(req, m.Metadata().MaxBatch)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	for i, img := range images {
		if _, err := ocr.CheckImage(img); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "image %d: %v", i, err)
		}
	}
	var boxes [][]messages.Box
	if rm, ok := m.(RegionModel); ok && kserve.IsRegionsRequest(req) {
		boxes, err = rm.InferRegions(ctx, images)
	} else {
		boxes, err = m.Infer(ctx, images)
	}
	if err != nil {
		return nil, inferStatus(err)
	}
	resp, err := kserve.NewBoxesResponse(m.Name(), req.GetId(), boxes)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	resp.ModelVersion = modelVersion
	return resp, nil
}

// inferStatus maps a model's error to the gRPC status a client acts on.
func inferStatus(err error) error {
	switch {
	case errors.Is(err, ocr.ErrBadImage):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.Is(err, ocr.ErrClosed):
		return status.Error(codes.Unavailable, "inferd is stopping")
	}
	return status.Error(codes.Internal, err.Error())
}

// model finds a served model, or returns the NOT_FOUND status for it.
func (s *service) model(name, version string) (served, error) {
	m, ok := s.models[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "unknown model %q", name)
	}
	if version != "" && version != modelVersion {
		return nil, status.Errorf(codes.NotFound, "unknown version %q of model %q", version, name)
	}
	return m, nil
}

// metricModel is the model label for a requested name: names inferd does not
// serve share one label, so clients cannot grow the series without bound.
func (s *service) metricModel(name string) string {
	if _, ok := s.models[name]; ok {
		return name
	}
	return "unknown"
}
