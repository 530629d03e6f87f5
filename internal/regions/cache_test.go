package regions

import (
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// screen is a synthetic frame: labels drawn as solid blocks whose colour
// comes from their text, so changing a label's text changes its pixels.
type screen struct {
	w, h   int
	labels []label
}

type label struct {
	text string
	r    image.Rectangle
}

func (s screen) image() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, s.w, s.h))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for _, l := range s.labels {
		h := fnv.New32a()
		h.Write([]byte(l.text))
		v := h.Sum32()
		c := color.RGBA{uint8(v), uint8(v >> 8), uint8(v >> 16), 0xff}
		for y := l.r.Min.Y; y < l.r.Max.Y; y++ {
			for x := l.r.Min.X; x < l.r.Max.X; x++ {
				img.SetRGBA(x, y, c)
			}
		}
	}
	return img
}

// recognizer is a fake OCR: it reads the labels lying wholly inside a
// region, in the region's coordinates, and counts what it read.
type recognizer struct{ reads map[string]int }

func (f *recognizer) recognize(s screen, regions []image.Rectangle) [][]messages.Box {
	out := make([][]messages.Box, len(regions))
	for i, r := range regions {
		for _, l := range s.labels {
			if !l.r.In(r) {
				continue
			}
			f.reads[l.text]++
			b := messages.Box{X: l.r.Min.X - r.Min.X, Y: l.r.Min.Y - r.Min.Y, W: l.r.Dx(), H: l.r.Dy(), Text: l.text}
			line, word := b, b
			line.Level, word.Level = "line", "word"
			out[i] = append(out[i], line, word)
		}
	}
	return out
}

func step(c *Cache, f *recognizer, s screen) (*Plan, []messages.Box) {
	p := c.Plan("sb", Hash(s.image(), 0))
	return p, c.Commit(p, f.recognize(s, p.Regions))
}

func texts(boxes []messages.Box) []string {
	var out []string
	for _, b := range boxes {
		if b.Level == "line" {
			out = append(out, fmt.Sprintf("%s@%d,%d", b.Text, b.X, b.Y))
		}
	}
	slices.Sort(out)
	return out
}

func TestChangedRegionIsRecognisedAgainUnchangedIsNot(t *testing.T) {
	c, f := New(0), &recognizer{reads: map[string]int{}}
	s := screen{w: 640, h: 480, labels: []label{
		{"Sign in", image.Rect(40, 40, 120, 60)},
		{"Cancel", image.Rect(40, 400, 110, 420)},
	}}
	if p, _ := step(c, f, s); !p.Full() {
		t.Fatalf("first frame: regions %v, want the whole frame", p.Regions)
	}

	p, boxes := step(c, f, s)
	if len(p.Regions) != 0 || f.reads["Sign in"] != 1 || f.reads["Cancel"] != 1 {
		t.Fatalf("unchanged frame: regions %v, reads %v; want none again", p.Regions, f.reads)
	}
	if got := texts(boxes); !slices.Equal(got, []string{"Cancel@40,400", "Sign in@40,40"}) {
		t.Fatalf("unchanged frame: boxes %v", got)
	}

	s.labels[1].text = "Cancelled"
	p, boxes = step(c, f, s)
	if len(p.Regions) != 1 || !image.Rect(40, 400, 110, 420).In(p.Regions[0]) || p.Regions[0].Dy() > 100 ||
		p.Regions[0].Dx() > 160 {
		t.Fatalf("one label changed: regions %v, want one small rectangle around it", p.Regions)
	}
	if f.reads["Sign in"] != 1 || f.reads["Cancelled"] != 1 {
		t.Fatalf("reads %v: want the changed label read, the other not", f.reads)
	}
	if got := texts(boxes); !slices.Equal(got, []string{"Cancelled@40,400", "Sign in@40,40"}) {
		t.Fatalf("after the change: boxes %v; the old text must be gone", got)
	}
}

// TestNeverReturnsTextForChangedPixels moves, adds, removes and rewrites
// labels at random and checks, frame after frame, that the cache's answer
// is exactly what a full-frame recognition of the frame reads.
func TestNeverReturnsTextForChangedPixels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 8))
	c, f := New(0), &recognizer{reads: map[string]int{}}
	s := screen{w: 320, h: 240}
	for frame := 0; frame < 300; frame++ {
		switch op := rng.IntN(4); {
		case op == 0 || len(s.labels) == 0:
			x, y := rng.IntN(260), rng.IntN(220)
			r := image.Rect(x, y, x+10+rng.IntN(50), y+8+rng.IntN(12))
			if !overlaps(s.labels, r, -1) {
				s.labels = append(s.labels, label{fmt.Sprintf("w%d", frame), r})
			}
		case op == 1:
			s.labels = slices.Delete(s.labels, 0, 1)
		case op == 2:
			s.labels[rng.IntN(len(s.labels))].text = fmt.Sprintf("t%d", frame)
		}
		_, boxes := step(c, f, s)
		want := texts(f.recognize(s, []image.Rectangle{image.Rect(0, 0, s.w, s.h)})[0])
		if got := texts(boxes); !slices.Equal(got, want) {
			t.Fatalf("frame %d: cache says %v, the frame reads %v", frame, got, want)
		}
	}
}

// overlaps reports whether r comes within 2 px of a label other than skip:
// the fake recognizer would otherwise read two labels as one.
func overlaps(ls []label, r image.Rectangle, skip int) bool {
	for i, l := range ls {
		if i != skip && l.r.Inset(-2).Overlaps(r) {
			return true
		}
	}
	return false
}

func TestOtherSizePlansTheWholeFrame(t *testing.T) {
	c, f := New(0), &recognizer{reads: map[string]int{}}
	step(c, f, screen{w: 320, h: 240, labels: []label{{"a", image.Rect(10, 10, 30, 20)}}})
	if p, _ := step(c, f, screen{w: 640, h: 480}); !p.Full() {
		t.Fatalf("regions %v after a resize, want the whole frame", p.Regions)
	}
}

// TestMostlyChangedPlansTheWholeFrame: a page replaced by another (a
// navigation) is read whole, not as many crops.
func TestMostlyChangedPlansTheWholeFrame(t *testing.T) {
	c, f := New(0), &recognizer{reads: map[string]int{}}
	step(c, f, screen{w: 320, h: 240})
	s := screen{w: 320, h: 240}
	for y := 0; y+20 <= 240; y += 24 {
		s.labels = append(s.labels, label{fmt.Sprintf("l%d", y), image.Rect(0, y, 300, y+20)})
	}
	if p, _ := step(c, f, s); !p.Full() {
		t.Fatalf("regions %v after most of the page changed, want the whole frame", p.Regions)
	}
}

// TestLineGrowsTheRegion: a change next to a cached line re-reads the whole
// line, however far it reaches beyond the changed tiles.
func TestLineGrowsTheRegion(t *testing.T) {
	c, f := New(0), &recognizer{reads: map[string]int{}}
	line := image.Rect(20, 200, 600, 216)
	s := screen{w: 640, h: 480, labels: []label{{"You picked Green", line}}}
	step(c, f, s)
	s.labels = append(s.labels, label{"(3)", image.Rect(606, 200, 630, 216)})
	p, boxes := step(c, f, s)
	if len(p.Regions) != 1 || !line.In(p.Regions[0]) {
		t.Fatalf("regions %v, want one covering the whole line %v", p.Regions, line)
	}
	if got := texts(boxes); !slices.Equal(got, []string{"(3)@606,200", "You picked Green@20,200"}) ||
		f.reads["You picked Green"] != 2 {
		t.Fatalf("boxes %v, reads %v", got, f.reads)
	}
}
