package capture

import (
	"errors"
	"image"
	"image/color"
	"testing"
)

// TestConvertLayouts encodes the same two pixels in several server layouts
// and checks that each converts back to the same colours.
func TestConvertLayouts(t *testing.T) {
	want := []color.RGBA{{0xff, 0x00, 0x00, 0xff}, {0x00, 0xff, 0xff, 0xff}}
	tests := []struct {
		name    string
		bpp     int
		pad     int
		msb     bool
		r, g, b uint32
		row     []byte // the two pixels, then padding
	}{
		{"bgrx lsb", 32, 32, false, 0xff0000, 0xff00, 0xff,
			[]byte{0, 0, 0xff, 0, 0xff, 0xff, 0, 0}},
		{"xrgb msb", 32, 32, true, 0xff0000, 0xff00, 0xff,
			[]byte{0, 0xff, 0, 0, 0, 0, 0xff, 0xff}},
		{"rgbx lsb, swapped masks", 32, 32, false, 0xff, 0xff00, 0xff0000,
			[]byte{0xff, 0, 0, 0, 0, 0xff, 0xff, 0}},
		{"packed 24 lsb, padded row", 24, 32, false, 0xff0000, 0xff00, 0xff,
			[]byte{0, 0, 0xff, 0xff, 0xff, 0, 0xee, 0xee}},
		{"565 lsb", 16, 32, false, 0xf800, 0x07e0, 0x001f,
			[]byte{0x00, 0xf8, 0xff, 0x07}},
		{"565 msb", 16, 32, true, 0xf800, 0x07e0, 0x001f,
			[]byte{0xf8, 0x00, 0x07, 0xff}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := pixelFormat{bpp: tc.bpp, pad: tc.pad, msbFirst: tc.msb}.withMasks(tc.r, tc.g, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.stride(2); got != len(tc.row) {
				t.Fatalf("stride(2) = %d, want %d", got, len(tc.row))
			}
			src := append(append([]byte{}, tc.row...), tc.row...) // two rows
			dst := image.NewRGBA(image.Rect(0, 0, 2, 2))
			if err := f.convert(dst, src, 2, 2); err != nil {
				t.Fatal(err)
			}
			for y := 0; y < 2; y++ {
				for x, c := range want {
					if got := dst.RGBAAt(x, y); got != c {
						t.Errorf("pixel (%d,%d) = %v, want %v", x, y, got, c)
					}
				}
			}
		})
	}
}

func TestConvertShortData(t *testing.T) {
	f, err := pixelFormat{bpp: 32, pad: 32}.withMasks(0xff0000, 0xff00, 0xff)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.convert(image.NewRGBA(image.Rect(0, 0, 4, 4)), make([]byte, 60), 4, 4); err == nil {
		t.Fatal("convert accepted 60 bytes for a 4x4 32-bit image")
	}
}

func TestUnsupportedFormats(t *testing.T) {
	tests := []struct {
		name    string
		f       pixelFormat
		r, g, b uint32
	}{
		{"8 bpp", pixelFormat{bpp: 8, pad: 32}, 0xe0, 0x1c, 0x03},
		{"non-contiguous mask", pixelFormat{bpp: 32, pad: 32}, 0xff00ff, 0xff00, 0xff},
		{"zero mask", pixelFormat{bpp: 32, pad: 32}, 0, 0xff00, 0xff},
		{"odd pad", pixelFormat{bpp: 32, pad: 7}, 0xff0000, 0xff00, 0xff},
	}
	for _, tc := range tests {
		if _, err := tc.f.withMasks(tc.r, tc.g, tc.b); !errors.Is(err, ErrUnsupportedFormat) {
			t.Errorf("%s: err = %v, want ErrUnsupportedFormat", tc.name, err)
		}
	}
}

func BenchmarkConvertBGRX(b *testing.B) {
	f, _ := pixelFormat{bpp: 32, pad: 32}.withMasks(0xff0000, 0xff00, 0xff)
	src := make([]byte, 1280*800*4)
	dst := image.NewRGBA(image.Rect(0, 0, 1280, 800))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		_ = f.convert(dst, src, 1280, 800)
	}
}
