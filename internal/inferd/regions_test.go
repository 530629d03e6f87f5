package inferd_test

import (
	"bytes"
	"image"
	"image/png"
	"testing"

	"github.com/screenfleet/screenfleet/internal/inferd"
	"github.com/screenfleet/screenfleet/internal/ocr/ocrtest"
	"github.com/screenfleet/screenfleet/pkg/rawframe"
)

// A regions request reads each region in its own pixels: a crop of the
// button row (PNG) and the same crop as sfraw both find "Sign in" where it
// is in the crop, and a region as tall as the page is read as a page.
func TestInferRegions(t *testing.T) {
	shot := ocrtest.Screenshot(t, ocrtest.LoginPage, 480, 200)
	full, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	r := image.Rect(40, 118, 250, 158) // the button row, with a margin
	crop := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := range r.Dy() {
		for x := range r.Dx() {
			crop.Set(x, y, full.At(r.Min.X+x, r.Min.Y+y))
		}
	}
	var cropPNG bytes.Buffer
	if err := png.Encode(&cropPNG, crop); err != nil {
		t.Fatal(err)
	}
	enc, err := rawframe.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	_, c := start(t, inferd.Config{OCRWorkers: 2})
	boxes, err := c.InferRegions(t.Context(), "ocr", [][]byte{cropPNG.Bytes(), enc.Encode(crop), shot})
	if err != nil {
		t.Fatal(err)
	}
	in := ocrtest.Rect{X: ocrtest.SignInAt.X - r.Min.X, Y: ocrtest.SignInAt.Y - r.Min.Y,
		W: ocrtest.SignInAt.W, H: ocrtest.SignInAt.H}
	for i, at := range []ocrtest.Rect{in, in, ocrtest.SignInAt} {
		if !hasLineWith(boxes[i], "Sign in", at) {
			t.Errorf("region %d: no line holding \"Sign in\" near %+v in %+v", i, at, boxes[i])
		}
	}
	if _, err := c.InferRegions(t.Context(), "ocr", [][]byte{[]byte(rawframe.Magic + "garbage!")}); err == nil {
		t.Error("a broken sfraw region was read")
	}
}
