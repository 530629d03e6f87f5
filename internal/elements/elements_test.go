package elements_test

import (
	"bytes"
	"image/png"
	"testing"

	"github.com/screenfleet/screenfleet/internal/elements"
	"github.com/screenfleet/screenfleet/internal/elements/elementstest"
	"github.com/screenfleet/screenfleet/internal/ocr/ocrtest"
	"github.com/screenfleet/screenfleet/internal/yolo"
)

// Detect finds each control of a page Firefox rendered, with its class,
// within 3 px, and nothing else (the plain text is not a control).
func TestDetectFirefoxForm(t *testing.T) {
	shot := ocrtest.Screenshot(t, elementstest.FormPage, 640, 400)
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	got := elements.Detect(yolo.RGBA(img), elements.Options{})
	for _, want := range elementstest.FormElements {
		if !found(got, want, 3) {
			t.Errorf("no %s at %+v in %+v", want.Class, want.At, got)
		}
	}
	if len(got) != len(elementstest.FormElements) {
		t.Errorf("found %d elements, want %d: %+v", len(got), len(elementstest.FormElements), got)
	}
}

func found(es []elements.Element, want elementstest.Element, slack int) bool {
	for _, e := range es {
		a := want.At
		if elements.Classes[e.Class] == want.Class && near(e.X, a.X, slack) && near(e.Y, a.Y, slack) &&
			near(e.W, a.W, slack) && near(e.H, a.H, slack) {
			return true
		}
	}
	return false
}

func near(a, b, slack int) bool { return a-b <= slack && b-a <= slack }
