package ocr

import (
	"image"
	"image/color"
	"slices"
)

// What a region looks like to the preparation of a crop (C07, C08). The
// thresholds are in grey levels (0-255) and pixels of the region.
const (
	// ruleContrast is how far from the background a pixel must be to count
	// towards a border line: Firefox's button border (#8f8f9d on #e9e9ed)
	// differs by 90, a faint separator by about 30.
	ruleContrast = 24
	// ruleFill is the share of a line that one unbroken run of
	// border-coloured pixels must cover for the line to be taken as a
	// border: rounded corners (4 px each end) leave 13 of the 21 pixels of a
	// small button's side; text is broken up between letters.
	ruleFill = 0.5
	// minFrameSides is how many sides of a region must have a border line
	// for them to be trimmed: a control's frame has four (three when a crop
	// cut one off), while in a tight crop of text, an "I" or "l" at an edge
	// makes a left or right rule, and an "E" three at most with its bars.
	minFrameSides = 3
	// ruleDepth is how deep into the region a border is looked for: 1-2 px
	// borders, plus a focus ring.
	ruleDepth = 4
	// minInkContrast is the least difference from the background that
	// counts as ink, so that JPEG noise or a gradient is not text.
	minInkContrast = 24
	// minLineHeight drops ink runs shorter than this from the line count:
	// rules, underlines and dots, not text.
	minLineHeight = 3
	// crispShare: text with fewer pixels of intermediate grey than one in
	// crispShare of its ink pixels is a pixel font, not anti-aliased.
	crispShare = 20
)

// region is what analyse found in a grey crop.
type region struct {
	inner  image.Rectangle // the crop without its border lines, in grey's coordinates
	bg     uint8           // background grey level inside inner
	ink    uint8           // the grey level of inner farthest from bg
	invert bool            // the text is lighter than the background
	glyph  int             // median height of the text lines' ink, in pixels; 0 when no ink
	lines  int             // how many text lines (ink row runs) inner holds
	crisp  bool            // the text is not anti-aliased: hardly any grey between ink and background
}

// toGrey converts img to a grey image whose origin is (0, 0), reading the
// common frame types directly. Alpha is ignored: frames are opaque.
func toGrey(img image.Image) *image.Gray {
	b := img.Bounds()
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	switch src := img.(type) {
	case *image.Gray:
		for y := 0; y < b.Dy(); y++ {
			copy(g.Pix[y*g.Stride:y*g.Stride+b.Dx()], src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):])
		}
	case *image.RGBA:
		rgbToGrey(g, src.Pix, src.Stride, src.PixOffset(b.Min.X, b.Min.Y))
	case *image.NRGBA:
		rgbToGrey(g, src.Pix, src.Stride, src.PixOffset(b.Min.X, b.Min.Y))
	case *image.YCbCr:
		for y := 0; y < b.Dy(); y++ {
			copy(g.Pix[y*g.Stride:y*g.Stride+b.Dx()], src.Y[src.YOffset(b.Min.X, b.Min.Y+y):])
		}
	default:
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				g.Pix[y*g.Stride+x] = color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y
			}
		}
	}
	return g
}

// rgbToGrey fills g from 4-byte RGB(A) pixels starting at off, with the
// weights of color.GrayModel.
func rgbToGrey(g *image.Gray, pix []byte, stride, off int) {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	for y := 0; y < h; y++ {
		src := pix[off+y*stride : off+y*stride+4*w]
		dst := g.Pix[y*g.Stride : y*g.Stride+w]
		for x := range dst {
			// As color.GrayModel: on 16-bit channels (v * 0x101).
			r, gr, b := uint32(src[4*x])*0x101, uint32(src[4*x+1])*0x101, uint32(src[4*x+2])*0x101
			dst[x] = uint8((19595*r + 38470*gr + 7471*b + 1<<15) >> 24)
		}
	}
}

// analyse finds g's background, its border lines, its polarity and the
// height of its text (C07, C08).
func analyse(g *image.Gray) region {
	r := region{inner: trimBorders(g, mode(g, g.Rect))}
	if r.inner.Empty() {
		return r
	}
	r.bg = mode(g, r.inner)
	thr := inkThreshold(g, r.inner, r.bg)
	var inkSum, inkN, midN int
	r.ink = r.bg
	rows := make([]bool, r.inner.Dy())
	for y := r.inner.Min.Y; y < r.inner.Max.Y; y++ {
		line := g.Pix[y*g.Stride+r.inner.Min.X : y*g.Stride+r.inner.Max.X]
		for _, v := range line {
			d := diff(v, r.bg)
			switch {
			case d > thr:
				if d > diff(r.ink, r.bg) {
					r.ink = v
				}
				inkSum += int(v)
				inkN++
				rows[y-r.inner.Min.Y] = true
			case d > minInkContrast/2:
				midN++
			}
		}
	}
	if inkN == 0 {
		return r
	}
	r.invert = inkSum > inkN*int(r.bg)
	r.crisp = midN*crispShare < inkN
	r.glyph, r.lines = textLines(rows)
	return r
}

// mode is the most common grey level in rect: the background of a UI
// region, where text covers a small part.
func mode(g *image.Gray, rect image.Rectangle) uint8 {
	var hist [256]int
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for _, v := range g.Pix[y*g.Stride+rect.Min.X : y*g.Stride+rect.Max.X] {
			hist[v]++
		}
	}
	best := 0
	for v, n := range hist {
		if n > hist[best] {
			best = v
		}
	}
	return uint8(best)
}

// inkThreshold is the difference from bg above which a pixel is text: half
// the strongest contrast in rect, so anti-aliased edges and a button's
// lighter border fall below it, but never under minInkContrast.
func inkThreshold(g *image.Gray, rect image.Rectangle, bg uint8) uint8 {
	var most uint8
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for _, v := range g.Pix[y*g.Stride+rect.Min.X : y*g.Stride+rect.Max.X] {
			most = max(most, diff(v, bg))
		}
	}
	return max(minInkContrast, most/2)
}

func diff(a, b uint8) uint8 {
	if a > b {
		return a - b
	}
	return b - a
}

// trimBorders returns the part of g inside the border lines that frame
// it, plus one more line where one was found, for the anti-aliased inside
// of a rounded corner; a blank margin around the border (a detector's box
// is rarely tight) goes first. Tesseract finds nothing in a crop that
// still holds its button's border (platform notes, pitfall 2), and reads a
// margined one as "| Save" or "OK)". The result is empty when g is blank.
func trimBorders(g *image.Gray, bg uint8) image.Rectangle {
	r := dropMargin(g)
	if r.Empty() {
		return image.Rectangle{}
	}
	// isRule reports whether the n pixels from (x0, y0) in steps of
	// (dx, dy) hold one unbroken run of border-coloured pixels over ruleFill
	// of them: a border, minus its rounded corners. Text breaks between
	// letters.
	isRule := func(x0, y0, dx, dy, n int) bool {
		run, longest := 0, 0
		for i := 0; i < n; i++ {
			if diff(g.Pix[(y0+i*dy)*g.Stride+x0+i*dx], bg) > ruleContrast {
				run++
				longest = max(longest, run)
			} else {
				run = 0
			}
		}
		return float64(longest) >= ruleFill*float64(n)
	}
	depth := func(size int) int { return min(ruleDepth, size/4) }
	top, bottom, left, right := 0, 0, 0, 0
	for i := 0; i < depth(r.Dy()); i++ {
		if isRule(r.Min.X, r.Min.Y+i, 1, 0, r.Dx()) {
			top = i + 2
		}
		if isRule(r.Min.X, r.Max.Y-1-i, 1, 0, r.Dx()) {
			bottom = i + 2
		}
	}
	for i := 0; i < depth(r.Dx()); i++ {
		if isRule(r.Min.X+i, r.Min.Y, 0, 1, r.Dy()) {
			left = i + 2
		}
		if isRule(r.Max.X-1-i, r.Min.Y, 0, 1, r.Dy()) {
			right = i + 2
		}
	}
	framed := 0
	for _, cut := range []int{top, bottom, left, right} {
		if cut > 0 {
			framed++
		}
	}
	if framed < minFrameSides {
		return r // text, whose stems or bars can look like one rule
	}
	inner := image.Rect(r.Min.X+left, r.Min.Y+top, r.Max.X-right, r.Max.Y-bottom)
	if inner.Empty() {
		return image.Rectangle{}
	}
	return inner
}

// dropMargin returns g's rectangle without the lines along its edges that
// are all of the colour its outermost pixels mostly have (within
// ruleContrast): the page around a control. A crop framed by the control's
// own border keeps it: the border's rounded corners show the page colour.
func dropMargin(g *image.Gray) image.Rectangle {
	r := g.Rect
	margin := ringMode(g)
	flat := func(x0, y0, dx, dy, n int) bool {
		for i := 0; i < n; i++ {
			if diff(g.Pix[(y0+i*dy)*g.Stride+x0+i*dx], margin) > ruleContrast {
				return false
			}
		}
		return true
	}
	for !r.Empty() && flat(r.Min.X, r.Min.Y, 1, 0, r.Dx()) {
		r.Min.Y++
	}
	for !r.Empty() && flat(r.Min.X, r.Max.Y-1, 1, 0, r.Dx()) {
		r.Max.Y--
	}
	for !r.Empty() && flat(r.Min.X, r.Min.Y, 0, 1, r.Dy()) {
		r.Min.X++
	}
	for !r.Empty() && flat(r.Max.X-1, r.Min.Y, 0, 1, r.Dy()) {
		r.Max.X--
	}
	if r.Empty() {
		return image.Rectangle{}
	}
	return r
}

// ringMode is the most common grey level of g's outermost pixels.
func ringMode(g *image.Gray) uint8 {
	var hist [256]int
	w, h := g.Rect.Dx(), g.Rect.Dy()
	for x := 0; x < w; x++ {
		hist[g.Pix[x]]++
		hist[g.Pix[(h-1)*g.Stride+x]]++
	}
	for y := 0; y < h; y++ {
		hist[g.Pix[y*g.Stride]]++
		hist[g.Pix[y*g.Stride+w-1]]++
	}
	best := 0
	for v, n := range hist {
		if n > hist[best] {
			best = v
		}
	}
	return uint8(best)
}

// textLines counts the runs of rows holding ink at least minLineHeight
// high and returns their median height with their number.
func textLines(rows []bool) (glyph, lines int) {
	var heights []int
	run := 0
	for i := 0; i <= len(rows); i++ {
		if i < len(rows) && rows[i] {
			run++
			continue
		}
		if run >= minLineHeight {
			heights = append(heights, run)
		}
		run = 0
	}
	if len(heights) == 0 {
		return 0, 0
	}
	slices.Sort(heights)
	return heights[len(heights)/2], len(heights)
}
