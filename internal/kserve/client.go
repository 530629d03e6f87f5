package kserve

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// MaxMessageSize is the gRPC message limit the client and inferd use each
// way. grpc-go's default receive limit of 4 MiB is smaller than one YOLOv8
// input at 640 (4.9 MB FP32) or a batch of full-HD PNG frames; 256 MiB
// holds a batch of 32 letterboxed 640x640 tensors (157 MB) or its raw
// outputs (90 MB) with room to spare, and still bounds what a broken peer
// can make us allocate (Triton itself allows 2 GiB).
const MaxMessageSize = 256 << 20

// ErrNotReady matches the error Ready returns when the server or the model
// answered but is not ready.
var ErrNotReady = errors.New("not ready")

// Client calls one KServe v2 inference server.
type Client struct {
	addr string
	conn *grpc.ClientConn
	svc  inferencepb.GRPCInferenceServiceClient
}

// Dial returns a client for the server at addr (host:port). The connection is
// made lazily on the first call, so a worker can start before its backend;
// ctx is accepted for symmetry with the other calls and bounds nothing yet.
// The defaults (plaintext, MaxMessageSize both ways) come first, so opts can
// override them.
func Dial(ctx context.Context, addr string, opts ...grpc.DialOption) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	all := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageSize),
			grpc.MaxCallSendMsgSize(MaxMessageSize),
		),
	}, opts...)
	conn, err := grpc.NewClient(addr, all...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return &Client{addr: addr, conn: conn, svc: inferencepb.NewGRPCInferenceServiceClient(conn)}, nil
}

// Service returns the generated protocol client, for calls this type does
// not wrap (metadata, tensor models).
func (c *Client) Service() inferencepb.GRPCInferenceServiceClient { return c.svc }

// Ready reports whether the server and model are ready: nil when both are;
// an error matching ErrNotReady that names which one is not; or the call's
// error (wrapped, gRPC status intact) when the server could not be asked.
func (c *Client) Ready(ctx context.Context, model string) error {
	sr, err := c.svc.ServerReady(ctx, &inferencepb.ServerReadyRequest{})
	if err != nil {
		return fmt.Errorf("server ready %s: %w", c.addr, err)
	}
	if !sr.GetReady() {
		return fmt.Errorf("server %s: %w", c.addr, ErrNotReady)
	}
	mr, err := c.svc.ModelReady(ctx, &inferencepb.ModelReadyRequest{Name: model})
	if err != nil {
		return fmt.Errorf("model ready %q on %s: %w", model, c.addr, err)
	}
	if !mr.GetReady() {
		return fmt.Errorf("model %q on %s: %w", model, c.addr, ErrNotReady)
	}
	return nil
}

// Config returns the configuration of model, which says among other things
// its max_batch_size.
func (c *Client) Config(ctx context.Context, model string) (*inferencepb.ModelConfig, error) {
	resp, err := c.svc.ModelConfig(ctx, &inferencepb.ModelConfigRequest{Name: model})
	if err != nil {
		return nil, fmt.Errorf("model config %q on %s: %w", model, c.addr, err)
	}
	return resp.GetConfig(), nil
}

// Metadata returns the tensors of model: names, datatypes and shapes (-1
// for variable dimensions, the batch one included).
func (c *Client) Metadata(ctx context.Context, model string) (*inferencepb.ModelMetadataResponse, error) {
	resp, err := c.svc.ModelMetadata(ctx, &inferencepb.ModelMetadataRequest{Name: model})
	if err != nil {
		return nil, fmt.Errorf("model metadata %q on %s: %w", model, c.addr, err)
	}
	return resp, nil
}

// Infer makes one ModelInfer call with req as built by the caller (a tensor
// model's request). A gRPC error keeps its status.
func (c *Client) Infer(ctx context.Context, req *inferencepb.ModelInferRequest,
) (*inferencepb.ModelInferResponse, error) {
	resp, err := c.svc.ModelInfer(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("model infer %q on %s: %w", req.GetModelName(), c.addr, err)
	}
	return resp, nil
}

// InferBoxes runs the boxes model on images (encoded PNG or JPEG) in one
// request and returns one box list per image, in order. A gRPC error keeps
// its status, so status.Code(err) tells INVALID_ARGUMENT (do not retry) from
// UNAVAILABLE.
func (c *Client) InferBoxes(ctx context.Context, model string, images [][]byte) ([][]messages.Box, error) {
	return c.inferBoxes(ctx, model, images, NewBoxesRequest)
}

// inferBoxes sends the request newReq makes of images and decodes one box
// list per image.
func (c *Client) inferBoxes(ctx context.Context, model string, images [][]byte,
	newReq func(string, [][]byte) *inferencepb.ModelInferRequest) ([][]messages.Box, error) {
	if len(images) == 0 {
		return nil, fmt.Errorf("model infer %q: no images", model)
	}
	resp, err := c.svc.ModelInfer(ctx, newReq(model, images))
	if err != nil {
		return nil, fmt.Errorf("model infer %q on %s: %w", model, c.addr, err)
	}
	boxes, err := DecodeBoxesResponse(resp, len(images))
	if err != nil {
		return nil, fmt.Errorf("model infer %q on %s: %w", model, c.addr, err)
	}
	return boxes, nil
}

// Close closes the connection; calls in flight fail with codes.Canceled.
func (c *Client) Close() error {
	if err := c.conn.Close(); err != nil {
		return fmt.Errorf("close %s: %w", c.addr, err)
	}
	return nil
}
