// Package elements finds UI elements (buttons, text inputs, checkboxes) on a
// screenshot by classical image analysis, on the CPU: a control is drawn as
// a rectangle of uniform fill inside a contrasting outline, so it shows up
// as a connected region of one colour whose bounding box is fully lined by
// that region. Text, icons and the page around them are not such regions.
package elements

import "image"

// The classes Detect reports, in the order of their class numbers.
var Classes = []string{"button", "input", "checkbox"}

// Class numbers, indices into Classes.
const (
	Button = iota
	Input
	Checkbox
)

// Element is one control found, in the image's pixels.
type Element struct {
	X, Y, W, H int
	Class      int
	Conf       float32
}

// Options tune detection. Zero fields take the defaults.
type Options struct {
	// MinSide is the smallest fill (inside the outline) kept, in pixels: a
	// 13 px checkbox has a 9 px fill at 100% zoom, 4-5 px at half size.
	MinSide int
	// MaxHeight is the tallest fill kept: taller rectangles are panels.
	MaxHeight int
	// Tolerance is how far (per channel) a pixel may be from its region's
	// first pixel and still belong to it: antialiasing and gradients stay out.
	Tolerance int
}

func (o Options) withDefaults() Options {
	if o.MinSide == 0 {
		o.MinSide = 7
	}
	if o.MaxHeight == 0 {
		o.MaxHeight = 100
	}
	if o.Tolerance == 0 {
		o.Tolerance = 6
	}
	return o
}

// Detect returns the controls in img (bounds at the origin), top to bottom,
// left to right.
func Detect(img *image.RGBA, opt Options) []Element {
	opt = opt.withDefaults()
	l := newLabeler(img, opt.Tolerance)
	var out []Element
	for y := range l.h {
		for x := range l.w {
			if l.label[y*l.w+x] != 0 {
				continue
			}
			r := l.fill(x, y)
			if e, ok := classify(l, r, opt); ok {
				out = append(out, e)
			}
		}
	}
	return out
}

// classify decides whether region r is a control's fill, and which.
func classify(l *labeler, r region, opt Options) (Element, bool) {
	w, h := r.x1-r.x0+1, r.y1-r.y0+1
	switch {
	case w < opt.MinSide || h < opt.MinSide || h > opt.MaxHeight || w > 12*opt.MaxHeight:
		return Element{}, false
	case r.x0 == 0 || r.y0 == 0 || r.x1 == l.w-1 || r.y1 == l.h-1:
		return Element{}, false // touches the edge: background or cut off
	case float64(r.count) < 0.5*float64(w*h):
		return Element{}, false // mostly holes: not a fill
	}
	lined := l.lining(r)
	if lined < 0.9 {
		return Element{}, false
	}
	// The outline is outside the fill: report the control with it.
	e := Element{X: r.x0 - 1, Y: r.y0 - 1, W: w + 2, H: h + 2, Conf: float32(lined)}
	switch {
	case abs(w-h) <= 2 && w <= 3*opt.MinSide:
		e.Class = Checkbox
	case r.luma >= 245 && w >= 3*h:
		e.Class = Input
	default:
		e.Class = Button
	}
	return e, true
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
