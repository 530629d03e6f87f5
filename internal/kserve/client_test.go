package kserve_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/screenfleet/screenfleet/internal/kserve"
	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// stubServer answers readiness with fixed values and echoes one box per
// image, so the client's error paths can be driven. inferd's tests cover the
// client against the real server.
type stubServer struct {
	pb.UnimplementedGRPCInferenceServiceServer
	serverReady, modelReady bool
}

func (s *stubServer) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return &pb.ServerReadyResponse{Ready: s.serverReady}, nil
}

func (s *stubServer) ModelReady(context.Context, *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	return &pb.ModelReadyResponse{Ready: s.modelReady}, nil
}

func (s *stubServer) ModelInfer(_ context.Context,
	req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	images, err := kserve.DecodeBoxesRequest(req, 8)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	boxes := make([][]messages.Box, len(images))
	for i, img := range images {
		boxes[i] = []messages.Box{{W: len(img), Text: string(img[:min(len(img), 1)])}}
	}
	return kserve.NewBoxesResponse(req.GetModelName(), req.GetId(), boxes)
}

func startStub(t *testing.T, s *stubServer) *kserve.Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(kserve.MaxMessageSize))
	pb.RegisterGRPCInferenceServiceServer(srv, s)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	c, err := kserve.Dial(t.Context(), lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientReady(t *testing.T) {
	tests := []struct {
		name                    string
		serverReady, modelReady bool
		wantErr                 string // substring; empty means ready
	}{
		{"both ready", true, true, ""},
		{"server not ready", false, true, "server 127.0.0.1:"},
		{"model not ready", true, false, `model "ocr" on 127.0.0.1:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startStub(t, &stubServer{serverReady: tt.serverReady, modelReady: tt.modelReady})
			err := c.Ready(t.Context(), "ocr")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ready: %v", err)
				}
				return
			}
			if !errors.Is(err, kserve.ErrNotReady) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want ErrNotReady naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestClientReadyUnreachable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	c, err := kserve.Dial(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Ready(t.Context(), "ocr")
	if status.Code(err) != codes.Unavailable || errors.Is(err, kserve.ErrNotReady) {
		t.Fatalf("error %v, want UNAVAILABLE that is not ErrNotReady", err)
	}
}

func TestClientInferBoxesLargeBatch(t *testing.T) {
	c := startStub(t, &stubServer{})
	// 8 images of 5 MiB: over grpc-go's 4 MiB default both ways.
	images := make([][]byte, 8)
	for i := range images {
		images[i] = make([]byte, 5<<20)
		images[i][0] = byte('a' + i)
	}
	boxes, err := c.InferBoxes(t.Context(), "ocr", images)
	if err != nil {
		t.Fatal(err)
	}
	for i, bs := range boxes {
		if len(bs) != 1 || bs[0].W != 5<<20 || bs[0].Text[0] != byte('a'+i) {
			t.Fatalf("image %d: boxes out of order or wrong", i)
		}
	}
}

func TestClientInferBoxesKeepsStatus(t *testing.T) {
	c := startStub(t, &stubServer{})
	images := make([][]byte, 9)
	_, err := c.InferBoxes(t.Context(), "ocr", images)
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("error %v, want INVALID_ARGUMENT", err)
	}
	if _, err := c.InferBoxes(t.Context(), "ocr", nil); err == nil {
		t.Fatal("no error for an empty batch")
	}
}
