package inferd

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/screenfleet/screenfleet/internal/kserve"
	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
)

// dataTypes maps protocol datatype strings to model configuration types.
var dataTypes = map[string]pb.DataType{
	"FP32": pb.DataType_TYPE_FP32, "FP16": pb.DataType_TYPE_FP16, "INT32": pb.DataType_TYPE_INT32,
	"INT64": pb.DataType_TYPE_INT64, "UINT8": pb.DataType_TYPE_UINT8, "BYTES": pb.DataType_TYPE_STRING,
}

func tensorMetadata(m TensorModel) *pb.ModelMetadataResponse {
	in, out := m.Tensors()
	meta := func(ts []TensorInfo) []*pb.ModelMetadataResponse_TensorMetadata {
		var md []*pb.ModelMetadataResponse_TensorMetadata
		for _, t := range ts {
			md = append(md, &pb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype,
				Shape: t.Shape})
		}
		return md
	}
	return &pb.ModelMetadataResponse{Name: m.Name(), Versions: []string{modelVersion},
		Platform: m.Metadata().Platform, Inputs: meta(in), Outputs: meta(out)}
}

// tensorConfig is a tensor model's configuration: dims leave out the batch
// dimension, and the labels travel as a parameter.
func tensorConfig(m TensorModel) *pb.ModelConfig {
	info := m.Metadata()
	in, out := m.Tensors()
	cfg := &pb.ModelConfig{Name: m.Name(), Platform: info.Platform, Backend: info.Backend,
		MaxBatchSize: int32(info.MaxBatch)}
	for _, t := range in {
		cfg.Input = append(cfg.Input, &pb.ModelInput{Name: t.Name, DataType: dataTypes[t.Datatype],
			Dims: t.Shape[1:]})
	}
	for _, t := range out {
		cfg.Output = append(cfg.Output, &pb.ModelOutput{Name: t.Name, DataType: dataTypes[t.Datatype],
			Dims: t.Shape[1:]})
	}
	if len(info.Labels) > 0 {
		cfg.Parameters = map[string]*pb.ModelParameter{"labels": {StringValue: strings.Join(info.Labels, ",")}}
	}
	return cfg
}

// inferTensors runs a tensor model, mapping its errors to statuses.
func inferTensors(ctx context.Context, m TensorModel,
	req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	resp, err := m.InferTensors(ctx, req)
	switch {
	case err == nil:
		resp.ModelName, resp.ModelVersion, resp.Id = m.Name(), modelVersion, req.GetId()
		return resp, nil
	case errors.Is(err, kserve.ErrInvalidRequest):
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return nil, inferStatus(err)
}
