package ocr

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/otiai10/gosseract/v2"

	"github.com/screenfleet/screenfleet/internal/ocr/ocrtest"
)

// examplePage is the example sign-in page with its stylesheet inlined, so
// headless Firefox renders it from a temporary file.
func examplePage(b *testing.B) string {
	page, err := os.ReadFile("../../examples/site/login.html")
	if err != nil {
		b.Fatal(err)
	}
	css, err := os.ReadFile("../../examples/site/style.css")
	if err != nil {
		b.Fatal(err)
	}
	return strings.Replace(string(page), `<link rel="stylesheet" href="style.css">`,
		"<style>"+string(css)+"</style>", 1)
}

// pgm encodes img as binary PGM (grey, one byte a pixel).
func pgm(img *image.Gray) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "P5\n%d %d\n255\n", img.Rect.Dx(), img.Rect.Dy())
	buf.Write(img.Pix)
	return buf.Bytes()
}

// BenchmarkFrameHandoff measures the ways a 1280x800 frame of the example
// sign-in page can travel from the agent to Tesseract: PNG as today, or raw
// RGBA compressed with zstd at its fastest level, decoded on the backend
// side and handed to Leptonica as grey PGM or grey PNG.
func BenchmarkFrameHandoff(b *testing.B) {
	shot := ocrtest.Screenshot(b, examplePage(b), 1280, 800)
	src, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		b.Fatal(err)
	}
	rgba := image.NewRGBA(src.Bounds())
	draw.Draw(rgba, rgba.Rect, src, image.Point{}, draw.Src)
	gray := image.NewGray(rgba.Rect)
	draw.Draw(gray, gray.Rect, rgba, image.Point{}, draw.Src)
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	packed := enc.EncodeAll(rgba.Pix, nil)
	var pngRGBA, pngGray bytes.Buffer
	fast := png.Encoder{CompressionLevel: png.BestSpeed}
	_ = fast.Encode(&pngRGBA, rgba)
	_ = fast.Encode(&pngGray, gray)
	pgmGray := pgm(gray)

	b.Run("agent/png-encode", func(b *testing.B) {
		for b.Loop() {
			var buf bytes.Buffer
			_ = fast.Encode(&buf, rgba)
		}
		b.ReportMetric(float64(pngRGBA.Len()), "bytes")
	})
	b.Run("agent/zstd-encode", func(b *testing.B) {
		out := make([]byte, 0, len(packed)*2)
		for b.Loop() {
			out = enc.EncodeAll(rgba.Pix, out[:0])
		}
		b.ReportMetric(float64(len(packed)), "bytes")
	})
	b.Run("backend/zstd-decode", func(b *testing.B) {
		out := make([]byte, 0, len(rgba.Pix))
		for b.Loop() {
			out, _ = dec.DecodeAll(packed, out[:0])
		}
	})
	b.Run("backend/rgba-to-gray", func(b *testing.B) {
		g := image.NewGray(rgba.Rect)
		for b.Loop() {
			draw.Draw(g, g.Rect, rgba, image.Point{}, draw.Src)
		}
	})
	b.Run("backend/gray-pgm-encode", func(b *testing.B) {
		for b.Loop() {
			pgm(gray)
		}
	})
	b.Run("backend/gray-png-encode", func(b *testing.B) {
		for b.Loop() {
			var buf bytes.Buffer
			_ = fast.Encode(&buf, gray)
		}
	})
	c := gosseract.NewClient()
	defer c.Close()
	for _, in := range []struct {
		name string
		data []byte
	}{{"rgba-png", pngRGBA.Bytes()}, {"gray-png", pngGray.Bytes()}, {"gray-pgm", pgmGray}} {
		b.Run("leptonica/"+in.name, func(b *testing.B) {
			for b.Loop() {
				if err := c.SetImageFromBytes(in.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
