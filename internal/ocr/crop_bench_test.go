package ocr

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"testing"

	"github.com/otiai10/gosseract/v2"

	"github.com/screenfleet/screenfleet/internal/ocr/ocrtest"
)

// bmpGrey encodes g as an 8-bit BMP with a grey palette.
func bmpGrey(g *image.Gray) []byte {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	stride := (w + 3) &^ 3
	const headers = 14 + 40 + 256*4
	out := make([]byte, headers+stride*h)
	le := binary.LittleEndian
	copy(out, "BM")
	le.PutUint32(out[2:], uint32(len(out)))
	le.PutUint32(out[10:], headers)
	le.PutUint32(out[14:], 40)
	le.PutUint32(out[18:], uint32(w))
	le.PutUint32(out[22:], uint32(h))
	le.PutUint16(out[26:], 1)
	le.PutUint16(out[28:], 8)
	le.PutUint32(out[34:], uint32(stride*h))
	le.PutUint32(out[46:], 256)
	for i := range 256 {
		out[54+4*i], out[55+4*i], out[56+4*i] = byte(i), byte(i), byte(i)
	}
	for y := range h {
		copy(out[headers+(h-1-y)*stride:], g.Pix[y*g.Stride:y*g.Stride+w])
	}
	return out
}

// BenchmarkCropHandoff measures how a prepared region reaches Leptonica
// through gosseract's SetImageFromBytes: Leptonica's own uncompressed
// "spix" (what RecognizeImage sends), grey BMP, grey PGM and grey PNG, each
// as encode plus read, for a button crop doubled (C07) and a 1280x120 band
// of the sign-in page; then whole RecognizeImage calls on both, with the
// default upscaling and without.
func BenchmarkCropHandoff(b *testing.B) {
	shot, rects := ocrtest.ScreenshotRects(b, buttonPage(firefoxButtons, []int{16}), 900, 80)
	frame, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		b.Fatal(err)
	}
	button := prepare(toGrey(subImage(frame, rects["b/16/4"])), CropOptions{}.withDefaults())
	login, err := png.Decode(bytes.NewReader(ocrtest.Screenshot(b, ocrtest.LoginPage, 1280, 200)))
	if err != nil {
		b.Fatal(err)
	}
	band := prepare(toGrey(subImage(login, ocrtest.Rect{Y: 30, W: 1280, H: 120})),
		CropOptions{GlyphHeight: -1}.withDefaults())
	fast := png.Encoder{CompressionLevel: png.BestSpeed}
	formats := []struct {
		name   string
		encode func(p *prepared) []byte
	}{
		{"spix", func(p *prepared) []byte { return p.img.bytes() }},
		{"bmp", func(p *prepared) []byte { return bmpGrey(p.img.greyImage()) }},
		{"pgm", func(p *prepared) []byte { return pgm(p.img.greyImage()) }},
		{"png", func(p *prepared) []byte {
			var buf bytes.Buffer
			_ = fast.Encode(&buf, p.img.greyImage())
			return buf.Bytes()
		}},
	}
	c := gosseract.NewClient()
	defer c.Close()
	for _, region := range []struct {
		name string
		p    *prepared
	}{{"button", button}, {"band", band}} {
		for _, f := range formats {
			data := f.encode(region.p)
			name := fmt.Sprintf("%s-%dx%d/%s", region.name, region.p.img.w, region.p.img.h, f.name)
			b.Run(name+"/encode", func(b *testing.B) {
				for b.Loop() {
					f.encode(region.p)
				}
				b.ReportMetric(float64(len(data)), "bytes")
			})
			b.Run(name+"/leptonica-read", func(b *testing.B) {
				for b.Loop() {
					if err := c.SetImageFromBytes(data); err != nil || !pixLoaded(c) {
						b.Fatalf("leptonica did not read %s: %v", f.name, err)
					}
				}
			})
		}
	}
	pool, err := NewPool(1, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	for _, tc := range []struct {
		name string
		img  image.Image
		opts CropOptions
	}{
		{"button", subImage(frame, rects["b/16/4"]), CropOptions{}},
		{"button-unscaled", subImage(frame, rects["b/16/4"]), CropOptions{GlyphHeight: -1}},
		{"band", subImage(login, ocrtest.Rect{Y: 30, W: 1280, H: 120}), CropOptions{}},
		{"band-unscaled", subImage(login, ocrtest.Rect{Y: 30, W: 1280, H: 120}), CropOptions{GlyphHeight: -1}},
	} {
		b.Run("recognize-image/"+tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := pool.RecognizeImage(b.Context(), tc.img, tc.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
