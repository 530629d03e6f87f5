package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/inferd"
	"github.com/screenfleet/screenfleet/internal/kserve"
	"github.com/screenfleet/screenfleet/internal/ocr/ocrtest"
	"github.com/screenfleet/screenfleet/internal/regions"
	"github.com/screenfleet/screenfleet/pkg/messages"
	"github.com/screenfleet/screenfleet/pkg/rawframe"
)

// countingBackend passes calls on and remembers the size of every image.
type countingBackend struct {
	Backend
	mu          sync.Mutex
	sizes       []image.Point
	regionCalls int
}

func (b *countingBackend) InferBoxes(ctx context.Context, model string,
	images [][]byte) ([][]messages.Box, error) {
	b.count(images, false)
	return b.Backend.InferBoxes(ctx, model, images)
}

// InferRegions passes region calls on to a backend that reads regions.
func (b *countingBackend) InferRegions(ctx context.Context, model string,
	images [][]byte) ([][]messages.Box, error) {
	b.count(images, true)
	return b.Backend.(regionBackend).InferRegions(ctx, model, images)
}

func (b *countingBackend) count(images [][]byte, asRegions bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, img := range images {
		b.sizes = append(b.sizes, decode(img).Rect.Size())
	}
	b.regionCalls += map[bool]int{true: 1}[asRegions]
}

func (b *countingBackend) take() []image.Point {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.sizes
	b.sizes = nil
	return out
}

// ocrBackend starts a real inferd and returns a client of it.
func ocrBackend(t *testing.T) *kserve.Client {
	t.Helper()
	srv, err := inferd.Start(t.Context(), inferd.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"},
		zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatalf("start inferd: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	client, err := kserve.Dial(t.Context(), srv.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// formPage is a form of several rows; button is the label of the first
// button in the last row.
func formPage(button string) string {
	return `<!doctype html><html><body style="margin:0;background:#fff;font-family:sans-serif;font-size:17px">
<div style="position:absolute;left:40px;top:30px;font-size:22px">Account settings</div>
<div style="position:absolute;left:40px;top:90px">User name</div>
<input style="position:absolute;left:180px;top:88px;width:200px;font-size:16px" value="alice">
<div style="position:absolute;left:40px;top:150px">Email address</div>
<div style="position:absolute;left:40px;top:210px">Notifications are on</div>
<button style="position:absolute;left:40px;top:320px;font-size:16px;padding:6px 14px">` + button + `</button>
<button style="position:absolute;left:200px;top:320px;font-size:16px;padding:6px 14px">Cancel</button>
</body></html>`
}

func lineTexts(boxes []messages.Box) []string {
	var out []string
	for _, b := range boxes {
		if b.Level == "line" {
			out = append(out, fmt.Sprintf("%s@%d,%d", strings.ToLower(b.Text), b.CenterX()/8, b.CenterY()/8))
		}
	}
	slices.Sort(out)
	return out
}

// Through real Tesseract: a second frame where one button's label changed
// is recognised in one band around that button, and the merged answer reads
// what a full-frame recognition of that frame reads; a third, identical
// frame costs no backend call.
func TestRegionCacheWithTesseract(t *testing.T) {
	before := ocrtest.Screenshot(t, formPage("Save"), 640, 400)
	after := ocrtest.Screenshot(t, formPage("Saved now"), 640, 400)
	client := ocrBackend(t)
	b := &countingBackend{Backend: client}
	a := boxesAdapter{backend: b, model: "ocr", batch: 8, regions: regions.New(0)}
	frame := func(data []byte) []messages.Frame {
		return []messages.Frame{{Sandbox: "sb", Codec: messages.CodecPNG, Width: 640, Height: 400, Data: data}}
	}

	if _, err := a.inferRegions(t.Context(), frame(before)); err != nil {
		t.Fatal(err)
	}
	if got := b.take(); len(got) != 1 || got[0] != image.Pt(640, 400) {
		t.Fatalf("first frame sent as %v, want whole", got)
	}
	cached, err := a.inferRegions(t.Context(), frame(after))
	if err != nil {
		t.Fatal(err)
	}
	if got := b.take(); len(got) != 1 || got[0].Y > 120 || got[0].X > 400 || b.regionCalls != 1 {
		t.Fatalf("changed frame sent as %v (%d region calls), want one region around the button", got,
			b.regionCalls)
	}
	full, err := client.InferBoxes(t.Context(), "ocr", [][]byte{after})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := lineTexts(cached[0]), lineTexts(full[0]); !slices.Equal(got, want) {
		t.Fatalf("cache reads\n%v\nfull frame reads\n%v", got, want)
	}
	if !slices.ContainsFunc(cached[0], func(b messages.Box) bool {
		return strings.Contains(strings.ToLower(b.Text), "saved now")
	}) {
		t.Fatalf("the new label is missing: %v", lineTexts(cached[0]))
	}

	again, err := a.inferRegions(t.Context(), frame(after))
	if err != nil {
		t.Fatal(err)
	}
	if got := b.take(); len(got) != 0 || !slices.Equal(lineTexts(again[0]), lineTexts(cached[0])) {
		t.Fatalf("unchanged frame: sent %v, read %v", got, lineTexts(again[0]))
	}
}

// redrawPage is examples/site/redraw.html as it looks with Continue shown
// at left (the page moves it there while it animates).
func redrawPage(t *testing.T, left int) []byte {
	t.Helper()
	html, err := os.ReadFile("../../examples/site/redraw.html")
	if err != nil {
		t.Fatal(err)
	}
	css, err := os.ReadFile("../../examples/site/style.css")
	if err != nil {
		t.Fatal(err)
	}
	page := strings.Replace(string(html), `<link rel="stylesheet" href="style.css">`,
		"<style>"+string(css)+"</style>", 1)
	page = strings.Replace(page, "left:0;top:20px;display:none", fmt.Sprintf("left:%dpx;top:20px", left), 1)
	return ocrtest.Screenshot(t, page, 1280, 800)
}

// A button that moved a little is read again whole: the region of its
// changed tiles would cut through it (and read "cc" for "Continue"), so the
// region is widened to blank edges first.
func TestMovedButtonIsReadWhole(t *testing.T) {
	client := ocrBackend(t)
	a := boxesAdapter{backend: client, model: "ocr", batch: 8, regions: regions.New(0)}
	var cached [][]messages.Box
	for _, left := range []int{470, 500} {
		f := messages.Frame{Sandbox: "sb", Codec: messages.CodecPNG, Width: 1280, Height: 800,
			Data: redrawPage(t, left)}
		var err error
		if cached, err = a.inferRegions(t.Context(), []messages.Frame{f}); err != nil {
			t.Fatal(err)
		}
	}
	full, err := client.InferBoxes(t.Context(), "ocr", [][]byte{redrawPage(t, 500)})
	if err != nil {
		t.Fatal(err)
	}
	want, ok := labelAt(full[0], "Continue")
	if !ok {
		t.Fatalf("the full frame misses Continue: %v", lineTexts(full[0]))
	}
	if got, ok := labelAt(cached[0], "Continue"); !ok || got.Sub(want).X*got.Sub(want).X > 64 {
		t.Fatalf("through the cache Continue is at %v (found %v), the full frame has it at %v; read %v",
			got, ok, want, lineTexts(cached[0]))
	}
}

func TestBlankEdges(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 200, 100))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	button := image.Rect(40, 30, 120, 60)
	for y := button.Min.Y; y < button.Max.Y; y++ {
		for x := button.Min.X; x < button.Max.X; x++ {
			if x == button.Min.X || x == button.Max.X-1 || y == button.Min.Y || y == button.Max.Y-1 || x%7 == 0 {
				img.Pix[img.PixOffset(x, y)] = 0
			}
		}
	}
	got := blankEdges(img, image.Rect(80, 35, 100, 50)) // inside the button
	if !button.In(got) || !got.In(image.Rect(38, 28, 122, 62)) {
		t.Fatalf("grown to %v, want just around the button %v", got, button)
	}
	if got := blankEdges(img, image.Rect(150, 70, 170, 90)); got != image.Rect(150, 70, 170, 90) {
		t.Fatalf("a blank region was grown to %v", got)
	}
}

// pngBackend is a boxes backend that reads only PNG, as Tesseract and
// Triton's image models do, and finds nothing.
type pngBackend struct{ got [][]byte }

func (b *pngBackend) Ready(context.Context, string) error { return nil }

func (b *pngBackend) InferBoxes(_ context.Context, _ string, images [][]byte) ([][]messages.Box, error) {
	b.got = append(b.got, images...)
	return make([][]messages.Box, len(images)), nil
}

// An sfraw frame sent whole (full frames, or a sandbox's first frame)
// reaches the backend as PNG of the same pixels; a broken one is refused
// as a bad frame, naming it.
func TestSfrawFramesReachTheBackendAsPNG(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
		if i%4 == 3 {
			img.Pix[i] = 0xff // screens are opaque
		}
	}
	enc, err := rawframe.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	f := messages.Frame{Seq: 5, Sandbox: "sb", Codec: messages.CodecRaw, Width: 64, Height: 48,
		Data: enc.Encode(img)}
	for _, a := range []boxesAdapter{
		{model: "ocr", batch: 8},                          // --full-frames
		{model: "ocr", batch: 8, regions: regions.New(0)}, // the cache's first frame
	} {
		b := &pngBackend{}
		a.backend = b
		if _, err := a.infer(t.Context(), []messages.Frame{f}); err != nil {
			t.Fatal(err)
		}
		got, err := png.Decode(bytes.NewReader(b.got[0]))
		if err != nil || !bytes.Equal(regions.ToRGBA(got).Pix, img.Pix) {
			t.Fatalf("backend got %d bytes that are not the frame as PNG (%v)", len(b.got[0]), err)
		}
	}
	bad := f
	bad.Data = append([]byte{}, f.Data[:len(f.Data)/2]...)
	a := boxesAdapter{model: "ocr", batch: 8, backend: &pngBackend{}}
	if _, err := a.infer(t.Context(), []messages.Frame{bad}); !errors.Is(err, messages.ErrBadFrame) ||
		!strings.Contains(err.Error(), "frame 5") {
		t.Fatalf("truncated sfraw frame: %v", err)
	}
}
