package worker

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/screenfleet/screenfleet/internal/imagetest"
	"github.com/screenfleet/screenfleet/internal/regions"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// TestRegionsSkipHugeImageHeader: the region cache does not decode a frame
// whose PNG claims 100000x100000 pixels; it sends it whole, for the
// backend to refuse.
func TestRegionsSkipHugeImageHeader(t *testing.T) {
	a := boxesAdapter{model: "ocr", batch: 8, regions: regions.New(0)}
	f := messages.Frame{Sandbox: "sb1", Seq: 7, Codec: messages.CodecPNG, Width: 1280, Height: 800,
		Data: imagetest.PNGHeader(100000, 100000)}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p, err := a.plan(f)
	runtime.ReadMemStats(&after)
	if err != nil || len(p.images) != 1 || len(p.images[0]) != len(f.Data) {
		t.Fatalf("plan has %d images, want the frame whole", len(p.images))
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("planning the frame allocated %d bytes", grew)
	}
}

// TestYOLORefusesHugeImageHeader: a frame of valid size whose PNG claims
// 100000x100000 pixels is refused as a bad frame before decoding, without
// allocating the image (40 GB).
func TestYOLORefusesHugeImageHeader(t *testing.T) {
	a := &yoloAdapter{w: 32, h: 32}
	f := messages.Frame{Seq: 7, Codec: messages.CodecPNG, Width: 1280, Height: 800,
		Data: imagetest.PNGHeader(100000, 100000)}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := a.request([]messages.Frame{f})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, messages.ErrBadFrame) {
		t.Fatalf("request: %v, want a bad frame", err)
	}
	if want := "frame 7: image is 100000x100000, frame says 1280x800"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to say %q", err, want)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("refusing the frame allocated %d bytes", grew)
	}
}
