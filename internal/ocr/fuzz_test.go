package ocr

import (
	"bytes"
	"errors"
	"image"
	"runtime"
	"testing"

	"github.com/screenfleet/screenfleet/internal/imagetest"
)

// TestCheckImageHugeHeader: a PNG of a few dozen bytes claiming
// 100000x100000 pixels (40 GB decoded) is refused from its header, without
// allocating the image.
func TestCheckImageHugeHeader(t *testing.T) {
	data := imagetest.PNGHeader(100000, 100000)
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err != nil || cfg.Width != 100000 {
		t.Fatalf("the crafted header does not read as 100000 wide: %v", err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := CheckImage(data)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrBadImage) {
		t.Fatalf("CheckImage: %v, want ErrBadImage", err)
	}
	if want := "bad image: png of 100000x100000 pixels exceeds 8192x8192"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("CheckImage allocated %d bytes for a refused header", grew)
	}
}

// FuzzCheckImage: any input is accepted within MaxSide or refused with
// ErrBadImage, never a panic.
func FuzzCheckImage(f *testing.F) {
	f.Add(imagetest.PNGHeader(64, 32))
	f.Add(imagetest.PNGHeader(100000, 100000))
	f.Add([]byte("\xff\xd8\xff\xe0"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := CheckImage(data)
		if err != nil {
			if !errors.Is(err, ErrBadImage) {
				t.Fatalf("error %v does not wrap ErrBadImage", err)
			}
			return
		}
		if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxSide || cfg.Height > MaxSide {
			t.Fatalf("accepted %dx%d", cfg.Width, cfg.Height)
		}
	})
}
