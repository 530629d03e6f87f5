package elements_test

import (
	"image"
	"image/color"
	"image/draw"
	"testing"

	"github.com/screenfleet/screenfleet/internal/elements"
)

// rect draws a control: a 1 px outline of border around a fill.
func rect(img *image.RGBA, x, y, w, h int, border, fill color.RGBA) {
	draw.Draw(img, image.Rect(x, y, x+w, y+h), &image.Uniform{border}, image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(x+1, y+1, x+w-1, y+h-1), &image.Uniform{fill}, image.Point{}, draw.Src)
}

// Synthetic controls with exact pixels: each found with its exact box and
// class; a panel too tall, a control cut by the edge and a speck are not.
func TestDetectSynthetic(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 400, 300))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{255, 255, 255, 255}}, image.Point{}, draw.Src)
	gray, white := color.RGBA{143, 143, 157, 255}, color.RGBA{255, 255, 255, 255}
	rect(img, 10, 10, 80, 24, gray, color.RGBA{233, 233, 237, 255})    // button
	rect(img, 10, 50, 150, 22, gray, white)                            // input
	rect(img, 10, 90, 13, 13, gray, white)                             // checkbox
	rect(img, 200, 10, 150, 150, gray, color.RGBA{240, 240, 240, 255}) // panel
	rect(img, 380, 200, 60, 20, gray, white)                           // cut by the edge
	rect(img, 10, 120, 5, 5, gray, white)                              // speck

	got := elements.Detect(img, elements.Options{})
	want := []elements.Element{
		{X: 10, Y: 10, W: 80, H: 24, Class: elements.Button, Conf: 1},
		{X: 10, Y: 50, W: 150, H: 22, Class: elements.Input, Conf: 1},
		{X: 10, Y: 90, W: 13, H: 13, Class: elements.Checkbox, Conf: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("element %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
