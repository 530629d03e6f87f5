package worker

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"strings"
	"testing"

	"github.com/screenfleet/screenfleet/internal/ocr/ocrtest"
	"github.com/screenfleet/screenfleet/internal/regions"
	"github.com/screenfleet/screenfleet/pkg/messages"
	"github.com/screenfleet/screenfleet/pkg/rawframe"
)

// exampleLabels are the labels the example tasks target that their pages
// show before any action, by page.
var exampleLabels = map[string][]string{
	"login.html":   {"Sign in", "User name", "Password"},
	"buttons.html": {"Green", "Blue", "Nothing picked yet"},
	"search.html":  {"Library search", "Search for"},
}

// renderExample renders an example page at 1280x800 with its stylesheet
// inlined.
func renderExample(t *testing.T, page string) []byte {
	t.Helper()
	html, err := os.ReadFile("../../examples/site/" + page)
	if err != nil {
		t.Fatal(err)
	}
	css, err := os.ReadFile("../../examples/site/style.css")
	if err != nil {
		t.Fatal(err)
	}
	inlined := strings.Replace(string(html), `<link rel="stylesheet" href="style.css">`,
		"<style>"+string(css)+"</style>", 1)
	return ocrtest.Screenshot(t, inlined, 1280, 800)
}

// labelAt returns the centre of the first box whose text holds label.
func labelAt(boxes []messages.Box, label string) (image.Point, bool) {
	for _, b := range boxes {
		if strings.Contains(strings.ToLower(b.Text), strings.ToLower(label)) {
			return image.Pt(b.CenterX(), b.CenterY()), true
		}
	}
	return image.Point{}, false
}

// Every label the example tasks target is found at the same place by a
// full-frame recognition of a PNG frame (the baseline) and through the
// region cache from sfraw frames (the fast configuration), here after a
// blank frame, so the page is read as the regions its text lies in.
func TestExampleLabelsFoundInBothConfigurations(t *testing.T) {
	client := ocrBackend(t)
	var blank bytes.Buffer
	white := image.NewGray(image.Rect(0, 0, 1280, 800))
	for i := range white.Pix {
		white.Pix[i] = 0xff
	}
	if err := png.Encode(&blank, white); err != nil {
		t.Fatal(err)
	}
	enc, err := rawframe.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	raw := func(data []byte) []byte {
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return enc.Encode(regions.ToRGBA(img))
	}
	for page, labels := range exampleLabels {
		shot := renderExample(t, page)
		full, err := client.InferBoxes(t.Context(), "ocr", [][]byte{shot})
		if err != nil {
			t.Fatal(err)
		}
		b := &countingBackend{Backend: client}
		a := boxesAdapter{backend: b, model: "ocr", batch: 8, regions: regions.New(0)}
		var cached [][]messages.Box
		for _, data := range [][]byte{blank.Bytes(), shot} {
			f := messages.Frame{Sandbox: page, Codec: messages.CodecRaw, Width: 1280, Height: 800, Data: raw(data)}
			if cached, err = a.inferRegions(t.Context(), []messages.Frame{f}); err != nil {
				t.Fatal(err)
			}
		}
		if sent := b.take(); len(sent) < 2 || sent[len(sent)-1] == image.Pt(1280, 800) {
			t.Fatalf("%s: images sent %v, want the page read in bands", page, sent)
		}
		for _, label := range labels {
			want, ok := labelAt(full[0], label)
			if !ok {
				t.Errorf("%s: full frame misses %q", page, label)
				continue
			}
			got, ok := labelAt(cached[0], label)
			if !ok || got.Sub(want).X*got.Sub(want).X+got.Sub(want).Y*got.Sub(want).Y > 64 {
				t.Errorf("%s: %q through the cache at %v (found %v), full frame at %v", page, label, got, ok, want)
			}
		}
	}
}
