package ocr

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"slices"
	"strings"
	"testing"

	"github.com/screenfleet/screenfleet/internal/ocr/ocrtest"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// cropLabels are the short labels of field case C07: words Tesseract's
// automatic mode returns nothing for, and a code string.
var cropLabels = []string{"OK", "Go", "Min", "Save", "Cancel", "FRS6HR45KS4"}

// buttonTheme is how a page draws its buttons; empty is Firefox's own look.
type buttonTheme struct {
	name, page, button string
}

var (
	firefoxButtons = buttonTheme{name: "firefox", page: "background:#fff"}
	lightButtons   = buttonTheme{name: "light", page: "background:#fff",
		button: "background:#f3f3f3;color:#1d1d1d;border:1px solid #b8b8b8;border-radius:4px;"}
	darkButtons = buttonTheme{name: "dark", page: "background:#181a1f",
		button: "background:#2b2f38;color:#e6e6e6;border:1px solid #4a4f5a;border-radius:4px;"}
)

// themeLabels are the labels of field case C08: C07's short ones and
// longer UI phrases.
var themeLabels = append(slices.Clone(cropLabels), "Sign in", "User name", "Search", "Settings",
	"Open file", "Next", "Back", "Delete", "Apply", "Close")

// buttonPage lays out one row of cropLabels buttons per font size, each
// button and its label's span marked for ScreenshotRects as "b/<size>/<i>"
// and "t/<size>/<i>".
func buttonPage(theme buttonTheme, sizes []int) string {
	return labelPage(theme, sizes, cropLabels, 900)
}

// labelPage lays out labels as buttons, rows of them per font size, wrapped
// at width pixels.
func labelPage(theme buttonTheme, sizes []int, labels []string, width int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<!doctype html><html><body style="margin:0;%s;font-family:sans-serif">`, theme.page)
	top := 20
	for _, size := range sizes {
		left := 20
		for i, label := range labels {
			if next := left + len(label)*size + 24; next > width {
				left, top = 20, top+44
			}
			id := fmt.Sprintf("%d/%d", size, i)
			fmt.Fprintf(&b, `<button data-rect="b/%s" style="position:absolute;left:%dpx;top:%dpx;`+
				`font-size:%dpx;%s"><span data-rect="t/%s">%s</span></button>`,
				id, left, top, size, theme.button, id, label)
			left += 20 + len(label)*size + 24
		}
		top += 44
	}
	b.WriteString("</body></html>")
	return b.String()
}

func decodePNG(t *testing.T, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func subImage(img image.Image, r ocrtest.Rect) image.Image {
	return img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(r.X, r.Y, r.X+r.W, r.Y+r.H))
}

// lineText joins the line boxes' texts.
func lineText(boxes []messages.Box) string {
	return strings.Join(lineTexts(boxes), " ")
}

// C07: each button of the short-label page, cropped by its DOM rectangle
// (border included) and recognised alone, reads exactly right in at least
// 95% of the crops, at 12 to 16 px; so does each button cropped with a
// 4 px margin of the page around its border, as a detector's box would.
func TestRecognizeImageShortLabelsC07(t *testing.T) {
	sizes := []int{12, 13, 14, 15, 16}
	shot, rects := ocrtest.ScreenshotRects(t, buttonPage(firefoxButtons, sizes), 900, 260)
	frame := decodePNG(t, shot)
	p := newTestPool(t, 1)
	exact, total := 0, 0
	for _, margin := range []int{0, 4} {
		for _, size := range sizes {
			for i, label := range cropLabels {
				r := rects[fmt.Sprintf("b/%d/%d", size, i)]
				r = ocrtest.Rect{X: r.X - margin, Y: r.Y - margin, W: r.W + 2*margin, H: r.H + 2*margin}
				boxes, err := p.RecognizeImage(t.Context(), subImage(frame, r), CropOptions{})
				if err != nil {
					t.Fatalf("%q at %d px: %v", label, size, err)
				}
				total++
				if got := lineText(boxes); got == label {
					exact++
				} else {
					t.Logf("%q at %d px, margin %d, read as %q", label, size, margin, got)
				}
			}
		}
	}
	t.Logf("%d of %d crops exact", exact, total)
	if exact*100 < 95*total {
		t.Errorf("%d of %d crops read exactly, want at least 95%%", exact, total)
	}
}

// A crop of a frame passed as a SubImage gives boxes in the frame's
// coordinates, and the engine is left in the pool's own mode.
func TestRecognizeImageFrameCoordinates(t *testing.T) {
	shot := ocrtest.Screenshot(t, ocrtest.LoginPage, 480, 200)
	frame := decodePNG(t, shot)
	p := newTestPool(t, 1)
	before, err := p.Recognize(t.Context(), shot)
	if err != nil {
		t.Fatal(err)
	}
	at := ocrtest.UserNameAt
	crop := subImage(frame, ocrtest.Rect{X: at.X - 10, Y: at.Y - 8, W: at.W + 30, H: at.H + 12})
	boxes, err := p.RecognizeImage(t.Context(), crop, CropOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertPhrase(t, boxes, "User name", at)
	after, err := p.Recognize(t.Context(), shot)
	if err != nil {
		t.Fatal(err)
	}
	if lineText(after) != lineText(before) {
		t.Errorf("full frame after a crop read %q, before %q", lineText(after), lineText(before))
	}
}

func TestRecognizeImageBadRegion(t *testing.T) {
	p := newTestPool(t, 1)
	for _, tc := range []struct {
		name string
		img  image.Image
		want string
	}{
		{"nil", nil, "bad image: no image"},
		{"empty", image.NewGray(image.Rect(5, 5, 5, 9)), "bad image: empty region (5,5)-(5,9)"},
		{"too wide", image.NewGray(image.Rect(0, 0, MaxSide+1, 1)),
			"bad image: region of 8193x1 pixels exceeds 8192x8192"},
	} {
		_, err := p.RecognizeImage(t.Context(), tc.img, CropOptions{})
		if !errors.Is(err, ErrBadImage) || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// A region with no ink is answered without a recognition: even a closed
// pool's engines are not needed for it.
func TestRecognizeImageBlankRegion(t *testing.T) {
	p := newTestPool(t, 1)
	blank := image.NewGray(image.Rect(0, 0, 120, 30))
	for i := range blank.Pix {
		blank.Pix[i] = 0xe9
	}
	engine := <-p.idle // every engine busy
	defer func() { p.idle <- engine }()
	boxes, err := p.RecognizeImage(t.Context(), blank, CropOptions{})
	if err != nil || len(boxes) != 0 {
		t.Fatalf("blank region: boxes %v, error %v; want none", boxes, err)
	}
}

func TestPreparedToRegion(t *testing.T) {
	p := &prepared{whole: image.Rect(0, 0, 100, 30), inner: image.Rect(2, 3, 98, 27), pad: 6, scale: 3}
	for _, tc := range []struct{ in, want image.Rectangle }{
		// (x/3 - 6 + 2): 18 -> 2, 59 -> ceil(59/3)=20 -> 16; y: 18 -> 3, 47 -> 16 -> 13.
		{image.Rect(18, 18, 59, 47), image.Rect(2, 3, 16, 13)},
		{image.Rect(0, 0, 600, 600), image.Rect(0, 0, 100, 30)}, // into the padding: clipped
	} {
		if got := p.toRegion(tc.in); got != tc.want {
			t.Errorf("toRegion(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// C08: the same labels on light and dark buttons at 11 and 16 px, each
// button cropped by its DOM rectangle: recall differs by at most 5 points
// between the four variants, and every label found has its box's centre
// within 2 px of its text's DOM rectangle's centre, in the page's (the
// screen's) coordinates.
func TestRecognizeImageThemesAndSizesC08(t *testing.T) {
	p := newTestPool(t, 1)
	sizes := []int{11, 16}
	recall := map[string]float64{}
	for _, theme := range []buttonTheme{lightButtons, darkButtons} {
		shot, rects := ocrtest.ScreenshotRects(t, labelPage(theme, sizes, themeLabels, 760), 800, 400)
		frame := decodePNG(t, shot)
		for _, size := range sizes {
			variant := fmt.Sprintf("%s/%dpx", theme.name, size)
			found := 0
			for i, label := range themeLabels {
				id := fmt.Sprintf("%d/%d", size, i)
				boxes, err := p.RecognizeImage(t.Context(), subImage(frame, rects["b/"+id]), CropOptions{})
				if err != nil {
					t.Fatalf("%s %q: %v", variant, label, err)
				}
				if got := lineText(boxes); got != label {
					t.Logf("%s: %q read as %q", variant, label, got)
					continue
				}
				found++
				assertCentred(t, variant, label, boxes, rects["t/"+id])
			}
			recall[variant] = 100 * float64(found) / float64(len(themeLabels))
		}
	}
	t.Logf("recall (%%): %v", recall)
	lo, hi := 100.0, 0.0
	for _, r := range recall {
		lo, hi = min(lo, r), max(hi, r)
	}
	if hi-lo > 5 {
		t.Errorf("recall ranges from %.1f%% to %.1f%% between variants, want within 5 points: %v", lo, hi, recall)
	}
}

// assertCentred checks that the one line box among boxes has its centre
// within 2 px of text's.
func assertCentred(t *testing.T, variant, label string, boxes []messages.Box, text ocrtest.Rect) {
	t.Helper()
	for _, b := range boxes {
		if b.Level != LevelLine {
			continue
		}
		// Centres in half pixels, so odd sizes do not round.
		dx := (2*b.X + b.W) - (2*text.X + text.W)
		dy := (2*b.Y + b.H) - (2*text.Y + text.H)
		if dx < -4 || dx > 4 || dy < -4 || dy > 4 {
			t.Errorf("%s %q: box %+v centred (%.1f, %.1f) px from its DOM text %+v", variant, label, b,
				float64(dx)/2, float64(dy)/2, text)
		}
	}
}

// C08 on a drawn region: a dark button framed by a 1 px border, with two
// lines of light "letters" (8 px strokes with gaps), is stripped of its
// border, seen as light on dark, and its 8 px lines are doubled. Dark
// letters on white with no frame lose only their blank margin.
func TestAnalyseRegion(t *testing.T) {
	fill := func(g *image.Gray, r image.Rectangle, v uint8) {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				g.Pix[g.PixOffset(x, y)] = v
			}
		}
	}
	letters := func(g *image.Gray, y0, y1 int, v uint8) {
		for x := 20; x < 58; x += 6 {
			fill(g, image.Rect(x, y0, x+2, y1), v)
		}
	}
	dark := image.NewGray(image.Rect(0, 0, 100, 40))
	fill(dark, dark.Rect, 90)                // border
	fill(dark, image.Rect(1, 1, 99, 39), 40) // background
	letters(dark, 8, 16, 230)
	letters(dark, 22, 30, 230)
	want := region{inner: image.Rect(1, 1, 99, 39), bg: 40, ink: 230, invert: true, glyph: 8, lines: 2,
		crisp: true}
	if got := analyse(dark); got != want {
		t.Errorf("dark region: %+v, want %+v", got, want)
	}
	if s := upscale(8, want.inner, CropOptions{}.withDefaults()); s != 2 {
		t.Errorf("8 px text scaled %d times, want 2", s)
	}
	if s := upscale(5, want.inner, CropOptions{}.withDefaults()); s != 4 {
		t.Errorf("5 px text scaled %d times, want 4", s)
	}
	// Prepared: (98+2*6)x(38+2*6) pixels doubled, white padding, black ink;
	// the first letter's top-left pixel (20, 8) lands at ((20-1+6)*2,
	// (8-1+6)*2) = (50, 26).
	out := prepare(dark, CropOptions{}.withDefaults()).img.greyImage()
	if out.Rect != image.Rect(0, 0, 220, 100) || out.GrayAt(0, 0).Y != 255 || out.GrayAt(50, 26).Y != 0 ||
		out.GrayAt(49, 25).Y != 255 {
		t.Errorf("prepared dark region: %v, corner %d, ink %d, before the ink %d", out.Rect,
			out.GrayAt(0, 0).Y, out.GrayAt(50, 26).Y, out.GrayAt(49, 25).Y)
	}
	light := image.NewGray(image.Rect(0, 0, 100, 40))
	fill(light, light.Rect, 255)
	letters(light, 8, 24, 0)
	want = region{inner: image.Rect(20, 8, 58, 24), bg: 255, ink: 0, glyph: 16, lines: 1, crisp: true}
	if got := analyse(light); got != want {
		t.Errorf("light region: %+v, want %+v", got, want)
	}
	if s := upscale(16, want.inner, CropOptions{}.withDefaults()); s != 1 {
		t.Errorf("16 px text scaled %d times, want 1", s)
	}
}

// toGrey reads a SubImage of each frame type the same as color.GrayModel
// (YCbCr: its luma), from the SubImage's own origin.
func TestToGreyReadsEachFrameType(t *testing.T) {
	rect := image.Rect(0, 0, 6, 4)
	sub := image.Rect(1, 1, 5, 3)
	colourAt := func(x, y int) color.NRGBA {
		return color.NRGBA{R: uint8(40 * x), G: uint8(60 * y), B: uint8(10*x + 20*y), A: 255}
	}
	rgba, nrgba, pal := image.NewRGBA(rect), image.NewNRGBA(rect), image.NewPaletted(rect, nil)
	ycc := image.NewYCbCr(rect, image.YCbCrSubsampleRatio444)
	var palette color.Palette
	for y := 0; y < rect.Dy(); y++ {
		for x := 0; x < rect.Dx(); x++ {
			c := colourAt(x, y)
			rgba.Set(x, y, c)
			nrgba.Set(x, y, c)
			palette = append(palette, c)
			ycc.Y[ycc.YOffset(x, y)] = uint8(x*30 + y)
		}
	}
	pal.Palette = palette
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i)
	}
	for _, img := range []image.Image{rgba, nrgba, pal, ycc} {
		g := toGrey(img.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(sub))
		if g.Rect != image.Rect(0, 0, sub.Dx(), sub.Dy()) {
			t.Fatalf("%T: grey image %v", img, g.Rect)
		}
		for y := 0; y < sub.Dy(); y++ {
			for x := 0; x < sub.Dx(); x++ {
				want := color.GrayModel.Convert(colourAt(x+1, y+1)).(color.Gray).Y
				if _, ok := img.(*image.YCbCr); ok {
					want = uint8((x+1)*30 + y + 1)
				}
				if got := g.GrayAt(x, y).Y; got != want {
					t.Errorf("%T at (%d,%d): grey %d, want %d", img, x, y, got, want)
				}
			}
		}
	}
}
