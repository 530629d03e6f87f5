package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

func TestWireError(t *testing.T) {
	const (
		unknownModel = messages.CodeUnknownModel
		notReady     = messages.CodeBackendNotReady
		badFrame     = messages.CodeBadFrame
		failed       = messages.CodeInferFailed
	)
	cases := []struct {
		name     string
		err      error
		want     messages.Code
		wantText string
	}{
		{"not found", status.Error(codes.NotFound, "no ocr"), unknownModel, "backend NotFound: no ocr"},
		{"unavailable", status.Error(codes.Unavailable, "loading"), notReady, "loading"},
		{"invalid argument", status.Error(codes.InvalidArgument, "bad png"), badFrame, "bad png"},
		{"deadline", status.Error(codes.DeadlineExceeded, "slow"), notReady, "slow"},
		{"internal", status.Error(codes.Internal, "crash"), failed, "crash"},
		// kserve wraps statuses with the call's name; the code must survive.
		{"wrapped status", fmt.Errorf("model infer \"ocr\": %w", status.Error(codes.NotFound, "gone")),
			unknownModel, `model infer "ocr": `},
		{"context deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), notReady, "deadline"},
		{"context canceled", context.Canceled, notReady, "canceled"},
		{"plain", errors.New("boom"), failed, "backend Unknown: boom"},
		{"coded", messages.Errorf(badFrame, "frame data: empty"), badFrame, "frame data: empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, text := wireError(tc.err)
			if code != tc.want || !strings.Contains(text, tc.wantText) {
				t.Fatalf("wireError = %d %q, want %d containing %q", code, text, tc.want, tc.wantText)
			}
		})
	}
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	c, err := Config{MaxInFlight: 3}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxQueued != 16 || c.MaxBatch != DefaultMaxBatch || c.GPU != "cpu" || len(c.Models) != 1 ||
		c.Models[0] != "ocr" || c.ID == "" {
		t.Fatalf("defaults = %+v", c)
	}
	for _, bad := range []Config{
		{Models: []string{"ocr.v2"}},
		{Models: []string{"ocr", "ocr"}},
		{GPU: "GPU 0"},
		{MaxInFlight: -1},
		{MaxBatch: -1},
		{Adapters: map[string]string{"ocr": "onnx"}},
		{RequestTimeout: -1},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("config %+v: no error", bad)
		}
	}
}

// One --backend setting names every GPU's endpoint through {gpu}.
func TestBackendAddrNamesTheGPU(t *testing.T) {
	for _, c := range []struct{ addr, gpu, want string }{
		{"triton-gpu{gpu}:8001", "2", "triton-gpu2:8001"},
		{"10.0.0.5:8001", "1", "10.0.0.5:8001"},
		{"triton-{gpu}:8001", "MIG-4f1c2b7a", "triton-MIG-4f1c2b7a:8001"},
	} {
		cfg, err := Config{BackendAddr: c.addr, GPU: c.gpu}.withDefaults()
		if err != nil || cfg.BackendAddr != c.want {
			t.Errorf("backend %q on gpu %s: %q (%v), want %q", c.addr, c.gpu, cfg.BackendAddr, err, c.want)
		}
	}
}
