package kserve

import (
	"context"
	"fmt"

	"github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// ParamRegions is the request parameter (bool) that says a boxes request's
// images are regions of a screen (the parts that changed), not whole
// screens: a server that knows it reads each with a line or block mode,
// which finds bordered labels that page-level modes miss and skips the
// page layout analysis. A server that does not know it ignores it, as the
// protocol lets it, and reads them as pages.
const ParamRegions = "sf_regions"

// NewRegionsRequest is NewBoxesRequest with ParamRegions set.
func NewRegionsRequest(model string, images [][]byte) *inferencepb.ModelInferRequest {
	req := NewBoxesRequest(model, images)
	req.Parameters = map[string]*inferencepb.InferParameter{
		ParamRegions: {ParameterChoice: &inferencepb.InferParameter_BoolParam{BoolParam: true}},
	}
	return req
}

// IsRegionsRequest reports whether req carries ParamRegions set to true.
func IsRegionsRequest(req *inferencepb.ModelInferRequest) bool {
	return req.GetParameters()[ParamRegions].GetBoolParam()
}

// InferRegions is InferBoxes for regions of screens (see ParamRegions):
// boxes come back in each region's own pixels.
func (c *Client) InferRegions(ctx context.Context, model string, images [][]byte) ([][]messages.Box, error) {
	if len(images) == 0 {
		return nil, fmt.Errorf("model infer %q: no images", model)
	}
	resp, err := c.svc.ModelInfer(ctx, NewRegionsRequest(model, images))
	if err != nil {
		return nil, fmt.Errorf("model infer %q on %s: %w", model, c.addr, err)
	}
	boxes, err := DecodeBoxesResponse(resp, len(images))
	if err != nil {
		return nil, fmt.Errorf("model infer %q on %s: %w", model, c.addr, err)
	}
	return boxes, nil
}
