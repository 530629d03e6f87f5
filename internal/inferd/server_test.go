package inferd_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/screenfleet/screenfleet/internal/inferd"
	"github.com/screenfleet/screenfleet/internal/kserve"
	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/internal/ocr/ocrtest"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// start runs an inferd on free loopback ports and returns it with a client.
func start(t *testing.T, cfg inferd.Config) (*inferd.Server, *kserve.Client) {
	t.Helper()
	cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	if cfg.OCRWorkers == 0 {
		cfg.OCRWorkers = 1
	}
	srv, err := inferd.Start(t.Context(), cfg, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatalf("start inferd: %v", err)
	}
	t.Cleanup(func() { srv.Stop() })
	c, err := kserve.Dial(t.Context(), srv.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

func TestMetadataConfigAndReadiness(t *testing.T) {
	_, c := start(t, inferd.Config{Version: "1.2.3"})
	ctx := t.Context()
	if err := c.Ready(ctx, "ocr"); err != nil {
		t.Fatalf("ready: %v", err)
	}
	err := c.Ready(ctx, "yolo")
	if !errors.Is(err, kserve.ErrNotReady) || !strings.Contains(err.Error(), `model "yolo"`) {
		t.Fatalf("unknown model: error %v, want ErrNotReady naming it", err)
	}
	live, err := c.Service().ServerLive(ctx, &pb.ServerLiveRequest{})
	if err != nil || !live.GetLive() {
		t.Fatalf("live: %v %v", live, err)
	}
	meta, err := c.Service().ServerMetadata(ctx, &pb.ServerMetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if meta.GetName() != "inferd" || meta.GetVersion() != "1.2.3" ||
		strings.Join(meta.GetExtensions(), ",") != "model_configuration" {
		t.Errorf("server metadata %v", meta)
	}
	assertModelMetadata(t, c)
	cfg, err := c.Config(ctx, "ocr")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GetName() != "ocr" || cfg.GetMaxBatchSize() != 8 || cfg.GetBackend() != "tesseract" ||
		cfg.GetPlatform() != "screenfleet_boxes" ||
		cfg.GetInput()[0].GetName() != "IMAGE" || cfg.GetInput()[0].GetDataType() != pb.DataType_TYPE_STRING ||
		cfg.GetOutput()[0].GetName() != "DETECTIONS" || cfg.GetOutput()[0].GetDataType() != pb.DataType_TYPE_STRING {
		t.Errorf("model config %v", cfg)
	}
}

func assertModelMetadata(t *testing.T, c *kserve.Client) {
	t.Helper()
	md, err := c.Service().ModelMetadata(t.Context(), &pb.ModelMetadataRequest{Name: "ocr"})
	if err != nil {
		t.Fatal(err)
	}
	in, out := md.GetInputs(), md.GetOutputs()
	if md.GetName() != "ocr" || md.GetPlatform() != "screenfleet_boxes" || len(in) != 1 || len(out) != 1 ||
		in[0].GetName() != "IMAGE" || in[0].GetDatatype() != "BYTES" || !equalShape(in[0].GetShape(), -1) ||
		out[0].GetName() != "DETECTIONS" || out[0].GetDatatype() != "BYTES" || !equalShape(out[0].GetShape(), -1) {
		t.Errorf("model metadata %v", md)
	}
	_, err = c.Service().ModelMetadata(t.Context(), &pb.ModelMetadataRequest{Name: "nope"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("metadata of an unknown model: %v, want NOT_FOUND", err)
	}
}

func equalShape(got []int64, want ...int64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestInferOCR(t *testing.T) {
	shot := ocrtest.Screenshot(t, ocrtest.LoginPage, 480, 200)
	_, c := start(t, inferd.Config{OCRWorkers: 2})
	boxes, err := c.InferBoxes(t.Context(), "ocr", [][]byte{shot, shot})
	if err != nil {
		t.Fatal(err)
	}
	if len(boxes) != 2 {
		t.Fatalf("%d box lists for 2 images", len(boxes))
	}
	for i, bs := range boxes {
		if !hasLineWith(bs, "Sign in", ocrtest.SignInAt) {
			t.Errorf("image %d: no line holding \"Sign in\" near %+v in %+v", i, ocrtest.SignInAt, bs)
		}
	}
}

// hasLineWith reports whether some line's text contains text and its words
// of text sit inside at.
func hasLineWith(boxes []messages.Box, text string, at ocrtest.Rect) bool {
	for _, line := range boxes {
		if line.Level != "line" || !strings.Contains(line.Text, text) {
			continue
		}
		inside := 0
		for _, w := range boxes {
			if w.Level == "word" && w.Line == line.Line && strings.Contains(text, w.Text) &&
				at.Contains(w.CenterX(), w.CenterY(), 4) {
				inside++
			}
		}
		return inside == len(strings.Fields(text))
	}
	return false
}

func TestInferTypedContents(t *testing.T) {
	_, c := start(t, inferd.Config{})
	req := &pb.ModelInferRequest{
		ModelName: "ocr", Id: "req-7",
		Inputs: []*pb.ModelInferRequest_InferInputTensor{{
			Name: "IMAGE", Datatype: "BYTES", Shape: []int64{1},
			Contents: &pb.InferTensorContents{BytesContents: [][]byte{pngOf(t, 64, 32)}},
		}},
	}
	resp, err := c.Service().ModelInfer(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetId() != "req-7" || resp.GetModelName() != "ocr" || len(resp.GetRawOutputContents()) != 1 {
		t.Fatalf("response %v: want id echoed and data in raw_output_contents", resp)
	}
	boxes, err := kserve.DecodeBoxesResponse(resp, 1)
	if err != nil || len(boxes[0]) != 0 {
		t.Fatalf("blank image: boxes %v, error %v", boxes, err)
	}
}

func TestInferErrors(t *testing.T) {
	_, c := start(t, inferd.Config{})
	good := pngOf(t, 64, 32)
	tests := []struct {
		name string
		req  *pb.ModelInferRequest
		code codes.Code
		msg  string
	}{
		{"unknown model", kserve.NewBoxesRequest("yolo", [][]byte{good}),
			codes.NotFound, `unknown model "yolo"`},
		{"unknown version", withVersion(kserve.NewBoxesRequest("ocr", [][]byte{good}), "2"),
			codes.NotFound, `unknown version "2" of model "ocr"`},
		{"input name", edit(good, func(r *pb.ModelInferRequest) { r.Inputs[0].Name = "images" }),
			codes.InvalidArgument, `unexpected input "images"; the model takes only "IMAGE"`},
		{"datatype", edit(good, func(r *pb.ModelInferRequest) { r.Inputs[0].Datatype = "UINT8" }),
			codes.InvalidArgument, `input "IMAGE": datatype "UINT8", want "BYTES"`},
		{"shape", edit(good, func(r *pb.ModelInferRequest) { r.Inputs[0].Shape = []int64{1, 3} }),
			codes.InvalidArgument, `input "IMAGE": shape [1 3], want [N] for a batch of N images`},
		{"batch over max", kserve.NewBoxesRequest("ocr", repeat(good, 9)),
			codes.InvalidArgument, `input "IMAGE": batch size 9 exceeds max_batch_size 8`},
		{"missing data", edit(good, func(r *pb.ModelInferRequest) { r.RawInputContents = nil }),
			codes.InvalidArgument, `input "IMAGE": no data; set raw_input_contents or contents.bytes_contents`},
		{"raw and typed", edit(good, func(r *pb.ModelInferRequest) {
			r.Inputs[0].Contents = &pb.InferTensorContents{BytesContents: [][]byte{good}}
		}), codes.InvalidArgument, `input "IMAGE": contents must not be set when raw_input_contents is used`},
		{"not an image", kserve.NewBoxesRequest("ocr", [][]byte{good, []byte("hello")}),
			codes.InvalidArgument, `image 1: bad image: image: unknown format`},
		{"empty image", kserve.NewBoxesRequest("ocr", [][]byte{{}}),
			codes.InvalidArgument, `image 0: bad image: empty`},
		{"too large", kserve.NewBoxesRequest("ocr", [][]byte{pngOf(t, 9000, 1)}),
			codes.InvalidArgument, `image 0: bad image: png of 9000x1 pixels exceeds 8192x8192`},
		{"truncated", kserve.NewBoxesRequest("ocr", [][]byte{good[:len(good)-20]}),
			codes.InvalidArgument, `image 0: bad image: leptonica could not decode it`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Service().ModelInfer(t.Context(), tt.req)
			st := status.Convert(err)
			if st.Code() != tt.code || st.Message() != tt.msg {
				t.Fatalf("got %v %q\nwant %v %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
		})
	}
}

func edit(img []byte, f func(*pb.ModelInferRequest)) *pb.ModelInferRequest {
	r := kserve.NewBoxesRequest("ocr", [][]byte{img})
	f(r)
	return r
}

func withVersion(r *pb.ModelInferRequest, v string) *pb.ModelInferRequest {
	r.ModelVersion = v
	return r
}

func repeat(img []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = img
	}
	return out
}

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHTTPMetricsAndHealth(t *testing.T) {
	srv, c := start(t, inferd.Config{})
	if _, err := c.InferBoxes(t.Context(), "ocr", [][]byte{pngOf(t, 64, 32)}); err != nil {
		t.Fatal(err)
	}
	for _, model := range []string{"ocr", "no-such-model-1", "no-such-model-2"} {
		if _, err := c.InferBoxes(t.Context(), model, [][]byte{[]byte("x")}); err == nil {
			t.Fatalf("model %s: bad image accepted", model)
		}
	}
	base := "http://" + srv.HTTPAddr()
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, base+path); code != http.StatusOK {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`sf_inferd_requests_total{code="OK",model="ocr"} 1`,
		`sf_inferd_requests_total{code="InvalidArgument",model="ocr"} 1`,
		`sf_inferd_requests_total{code="NotFound",model="unknown"} 2`,
		`sf_inferd_infer_seconds_count{model="ocr"} 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// blockingModel holds every request until released or cancelled.
type blockingModel struct {
	entered chan struct{}
	release chan struct{}
}

func newBlockingModel() *blockingModel {
	return &blockingModel{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (m *blockingModel) Name() string { return "block" }

func (m *blockingModel) Metadata() inferd.ModelInfo { return inferd.ModelInfo{MaxBatch: 1} }

func (m *blockingModel) Infer(ctx context.Context, images [][]byte) ([][]messages.Box, error) {
	m.entered <- struct{}{}
	select {
	case <-m.release:
		return [][]messages.Box{{{Text: "done"}}}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestStopWaitsForRequestsInFlight(t *testing.T) {
	model := newBlockingModel()
	srv, c := start(t, inferd.Config{Extra: []inferd.Model{model}})
	result := make(chan error, 1)
	go func() {
		_, err := c.InferBoxes(context.Background(), "block", [][]byte{pngOf(t, 8, 8)})
		result <- err
	}()
	<-model.entered
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop() }()
	waitFor(t, 5*time.Second, func() bool { return readyz(srv.HTTPAddr()) == http.StatusServiceUnavailable })
	close(model.release)
	if err := <-result; err != nil {
		t.Fatalf("request in flight during stop: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func TestStopCancelsAfterTimeout(t *testing.T) {
	model := newBlockingModel()
	srv, c := start(t, inferd.Config{Extra: []inferd.Model{model}, StopTimeout: 100 * time.Millisecond})
	result := make(chan error, 1)
	go func() {
		_, err := c.InferBoxes(context.Background(), "block", [][]byte{pngOf(t, 8, 8)})
		result <- err
	}()
	<-model.entered
	if err := srv.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if code := status.Code(<-result); code != codes.Unavailable && code != codes.Canceled {
		t.Fatalf("request cut by a forced stop: code %v, want UNAVAILABLE or CANCELED", code)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cfg := inferd.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: freeAddr(t), OCRWorkers: 1}
	done := make(chan error, 1)
	go func() { done <- inferd.Run(ctx, cfg, zerolog.New(zerolog.NewTestWriter(t))) }()
	waitFor(t, 10*time.Second, func() bool { return readyz(cfg.HTTPAddr) == http.StatusOK })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if code := readyz(cfg.HTTPAddr); code != 0 {
		t.Fatalf("still serving HTTP after run returned: %d", code)
	}
}

func TestRunErrors(t *testing.T) {
	cfg := inferd.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "256.0.0.1:1", OCRWorkers: 1}
	if err := inferd.Run(t.Context(), cfg, zerolog.Nop()); err == nil || !strings.Contains(err.Error(),
		"listen http") {
		t.Fatalf("bad address: error %v, want a listen error", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := inferd.Run(ctx, cfg, zerolog.Nop()); err != nil {
		t.Fatalf("cancelled before start: error %v, want nil", err)
	}
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// readyz returns the status of GET /readyz on addr, 0 when it cannot connect.
func readyz(addr string) int {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
