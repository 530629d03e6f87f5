package elements

import "image"

// labeler splits an image into 4-connected regions of near-uniform colour.
type labeler struct {
	p     *image.RGBA
	w, h  int
	tol   int
	label []int32 // region number of each pixel, 0 for none yet
	next  int32
	stack []int
}

// region is one labelled region: its number, bounding box (inclusive),
// pixel count and the luma of its first pixel.
type region struct {
	id             int32
	x0, y0, x1, y1 int
	count          int
	luma           int
}

func newLabeler(p *image.RGBA, tol int) *labeler {
	b := p.Bounds()
	return &labeler{p: p, w: b.Dx(), h: b.Dy(), tol: tol, label: make([]int32, b.Dx()*b.Dy())}
}

// fill labels the region of pixels like the one at (x, y) and connected to
// it, comparing each with that first pixel so that gradients do not leak.
func (l *labeler) fill(x, y int) region {
	l.next++
	seed := l.rgb(y*l.w + x)
	r := region{id: l.next, x0: x, y0: y, x1: x, y1: y,
		luma: (299*int(seed[0]) + 587*int(seed[1]) + 114*int(seed[2])) / 1000}
	l.stack = append(l.stack[:0], y*l.w+x)
	l.label[y*l.w+x] = r.id
	for len(l.stack) > 0 {
		i := l.stack[len(l.stack)-1]
		l.stack = l.stack[:len(l.stack)-1]
		px, py := i%l.w, i/l.w
		r.count++
		r.x0, r.x1, r.y0, r.y1 = min(r.x0, px), max(r.x1, px), min(r.y0, py), max(r.y1, py)
		l.visit(px-1, py, seed, r.id)
		l.visit(px+1, py, seed, r.id)
		l.visit(px, py-1, seed, r.id)
		l.visit(px, py+1, seed, r.id)
	}
	return r
}

func (l *labeler) visit(x, y int, seed [3]uint8, id int32) {
	if x < 0 || y < 0 || x >= l.w || y >= l.h {
		return
	}
	i := y*l.w + x
	if l.label[i] != 0 || !l.near(l.rgb(i), seed) {
		return
	}
	l.label[i] = id
	l.stack = append(l.stack, i)
}

func (l *labeler) rgb(i int) [3]uint8 {
	o := i * 4
	return [3]uint8{l.p.Pix[o], l.p.Pix[o+1], l.p.Pix[o+2]}
}

func (l *labeler) near(a, b [3]uint8) bool {
	for c := range 3 {
		if d := int(a[c]) - int(b[c]); d > l.tol || d < -l.tol {
			return false
		}
	}
	return true
}

// lining is the fraction of the pixels along r's bounding box that belong
// to r, leaving out the corners that rounded outlines cut off.
func (l *labeler) lining(r region) float64 {
	w, h := r.x1-r.x0+1, r.y1-r.y0+1
	c := min(4, w/4, h/4) // corner radius allowance
	in, all := 0, 0
	count := func(x, y int) {
		all++
		if l.label[y*l.w+x] == r.id {
			in++
		}
	}
	for x := r.x0 + c; x <= r.x1-c; x++ {
		count(x, r.y0)
		count(x, r.y1)
	}
	for y := r.y0 + c; y <= r.y1-c; y++ {
		count(r.x0, y)
		count(r.x1, y)
	}
	if all == 0 {
		return 0
	}
	return float64(in) / float64(all)
}
