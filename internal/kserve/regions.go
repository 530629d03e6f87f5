package kserve

import (
	"context"

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
	return c.inferBoxes(ctx, model, images, NewRegionsRequest)
}
