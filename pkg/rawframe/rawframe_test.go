package rawframe_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"testing"

	"github.com/screenfleet/screenfleet/pkg/rawframe"
)

// screen is a 1280x800 frame that looks like a UI: a light page, dark
// strokes of text, a button.
func screen() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 1280, 800))
	draw.Draw(img, img.Rect, image.NewUniform(color.RGBA{0xf4, 0xf4, 0xf4, 0xff}), image.Point{}, draw.Src)
	for y := 100; y < 700; y += 24 {
		for x := 80; x < 900; x += 7 {
			if (x*31+y*17)%5 != 0 {
				img.SetRGBA(x, y+(x%9), color.RGBA{0x20, 0x20, 0x20, 0xff})
			}
		}
	}
	draw.Draw(img, image.Rect(1000, 40, 1120, 80), image.NewUniform(color.RGBA{0x30, 0x60, 0xc0, 0xff}),
		image.Point{}, draw.Src)
	return img
}

func encoder(t testing.TB) *rawframe.Encoder {
	t.Helper()
	e, err := rawframe.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRoundTripThroughPackageImage(t *testing.T) {
	src := screen()
	data := encoder(t).Encode(src)
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || format != "sfraw" || cfg.Width != 1280 || cfg.Height != 800 {
		t.Fatalf("config %+v format %q err %v", cfg, format, err)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.(*image.RGBA); !bytes.Equal(got.Pix, src.Pix) || got.Rect != src.Rect {
		t.Fatal("decoded pixels differ from the encoded ones")
	}
}

func TestSubImage(t *testing.T) {
	src := screen()
	r := image.Rect(990, 30, 1130, 90)
	got, err := rawframe.DecodeBytes(encoder(t).Encode(src.SubImage(r).(*image.RGBA)))
	if err != nil {
		t.Fatal(err)
	}
	want := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(want, want.Rect, src, r.Min, draw.Src)
	if !bytes.Equal(got.Pix, want.Pix) {
		t.Fatal("sub-image pixels differ")
	}
}

func TestBadFramesAreRefused(t *testing.T) {
	dec, err := rawframe.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	good := encoder(t).Encode(screen())
	if img, err := dec.Decode(good); err != nil || img.Rect.Dx() != 1280 {
		t.Fatalf("good frame: err %v", err)
	}
	small := encoder(t).Encode(image.NewRGBA(image.Rect(0, 0, 4, 4)))
	huge := append([]byte(rawframe.Magic), 0, 0, 1, 0, 0, 0, 1, 0) // 65536 x 65536
	short := append([]byte{}, small...)
	short[len(rawframe.Magic)] = 8 // says 8 wide: too few pixels
	long := append([]byte{}, small...)
	long[len(rawframe.Magic)] = 2 // says 2 wide: pixels left over
	for name, data := range map[string][]byte{
		"empty": nil, "magic only": []byte(rawframe.Magic), "not a frame": []byte("hello, world!!"),
		"huge": huge, "truncated": good[:len(good)/2], "too few pixels": short, "too many pixels": long,
	} {
		if _, err := rawframe.DecodeBytes(data); !errors.Is(err, rawframe.ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", name, err)
		}
		if _, err := dec.Decode(data); !errors.Is(err, rawframe.ErrFormat) {
			t.Errorf("%s: Decoder: err %v, want ErrFormat", name, err)
		}
	}
}

func BenchmarkEncode1280x800(b *testing.B) {
	e, img := encoder(b), screen()
	for b.Loop() {
		e.Encode(img)
	}
}

func BenchmarkDecoder1280x800(b *testing.B) {
	data := encoder(b).Encode(screen())
	dec, err := rawframe.NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := dec.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode1280x800(b *testing.B) {
	data := encoder(b).Encode(screen())
	for b.Loop() {
		if _, err := rawframe.DecodeBytes(data); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecode: whatever the bytes, both decoders return an image of the
// size the header announces, or an error; never a panic, never more memory
// than that size.
func FuzzDecode(f *testing.F) {
	enc := encoder(f)
	f.Add(enc.Encode(image.NewRGBA(image.Rect(0, 0, 3, 2))))
	f.Add([]byte(rawframe.Magic + "\x01\x00\x00\x00\x01\x00\x00\x00"))
	dec, err := rawframe.NewDecoder()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, decode := range []func([]byte) (*image.RGBA, error){rawframe.DecodeBytes, dec.Decode} {
			img, err := decode(data)
			if err != nil {
				continue
			}
			cfg, _ := rawframe.DecodeConfig(bytes.NewReader(data))
			if img.Rect.Dx() != cfg.Width || img.Rect.Dy() != cfg.Height {
				t.Fatalf("decoded %v for a header of %dx%d", img.Rect, cfg.Width, cfg.Height)
			}
		}
	})
}
