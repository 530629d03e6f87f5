package ocr

import "image"

// prepared is a region made ready for Tesseract, with what it takes to map
// Tesseract's boxes back to the region.
type prepared struct {
	img   *spixGrey
	whole image.Rectangle // the region, from (0, 0)
	inner image.Rectangle // the part of the region that was kept
	pad   int             // background added on each side, in region pixels
	scale int             // whole upscaling factor
	lines int             // text lines found
}

// prepare trims g's borders, inverts it when its text is light on dark,
// scales small text up and pads it with its background (C07, C08). It
// returns nil when g holds no ink at all.
//
// Browser text is anti-aliased, and is scaled bilinearly: on the C07 labels
// at 12-16 px, nearest-neighbour upscaling read "FRS6HR45KS4" as
// "FRSGHR45K54" at every factor, bilinear x2 read all 30 crops right.
// Crisp text (a pixel font: no grey levels between ink and background) is
// scaled nearest-neighbour, which keeps its edges sharp.
func prepare(g *image.Gray, opts CropOptions) *prepared {
	r := analyse(g)
	if r.lines == 0 {
		return nil
	}
	p := &prepared{whole: g.Rect, inner: r.inner, pad: opts.Pad, lines: r.lines,
		scale: upscale(r.glyph, r.inner, opts)}
	sc := p.scale
	w, h := (r.inner.Dx()+2*p.pad)*sc, (r.inner.Dy()+2*p.pad)*sc
	p.img = newSpixGrey(w, h)
	src, bg := levels(g.SubImage(r.inner).(*image.Gray), r, !opts.KeepPolarity)
	p.img.fill(bg)
	if sc == 1 || r.crisp {
		scaleNearest(p.img, src, sc, p.pad*sc)
	} else {
		scaleBilinear(p.img, src, sc, p.pad*sc)
	}
	return p
}

// upscale is the smallest whole factor that makes text of height glyph at
// least opts.GlyphHeight high, at most opts.MaxScale, and never so much
// that the image passes MaxSide.
func upscale(glyph int, inner image.Rectangle, opts CropOptions) int {
	if opts.GlyphHeight < 0 || glyph <= 0 {
		return 1
	}
	s := min((opts.GlyphHeight+glyph-1)/glyph, opts.MaxScale)
	side := max(inner.Dx(), inner.Dy()) + 2*opts.Pad
	for s > 1 && side*s > MaxSide {
		s--
	}
	return max(s, 1)
}

// toRegion maps a box found on the prepared image back to the region's
// pixels: divided by exactly the scale (outwards, so the box still covers
// its ink), moved back by the padding and the trimmed border.
func (p *prepared) toRegion(b image.Rectangle) image.Rectangle {
	s := p.scale
	back := func(v, round int) int { return (v+round)/s - p.pad }
	r := image.Rect(back(b.Min.X, 0), back(b.Min.Y, 0), back(b.Max.X, s-1), back(b.Max.Y, s-1))
	r = r.Add(p.inner.Min)
	// Tesseract may reach into the padding; a box never leaves the region.
	return r.Intersect(p.whole)
}

// levels returns a copy of g with its background made white and its
// strongest ink black, inverted first when the text is lighter than the
// background and invert allows: dark-theme text then reaches Tesseract as
// the same black on white as light-theme text. Without the stretch, 11 px
// "FRS6HR45KS4" on a dark button, inverted, read as "FRS6GHR45KS4" (C08).
// It returns the copy and the level the background became.
func levels(g *image.Gray, r region, invert bool) (*image.Gray, uint8) {
	var flip uint8
	if r.invert && invert {
		flip = 0xff // v ^ 0xff is 255 - v
	}
	bg, ink := r.bg^flip, r.ink^flip
	var lut [256]uint8
	for v := range lut {
		switch {
		case bg > ink:
			lut[v] = uint8(min(255, max(0, (v-int(ink))*255/int(bg-ink))))
		case bg < ink: // light text kept as it is: stretched the other way
			lut[v] = uint8(min(255, max(0, (v-int(bg))*255/int(ink-bg))))
		default:
			lut[v] = uint8(v)
		}
	}
	out := image.NewGray(image.Rect(0, 0, g.Rect.Dx(), g.Rect.Dy()))
	for y := 0; y < out.Rect.Dy(); y++ {
		row := g.Pix[g.PixOffset(g.Rect.Min.X, g.Rect.Min.Y+y):]
		for x := range out.Rect.Dx() {
			out.Pix[y*out.Stride+x] = lut[row[x]^flip]
		}
	}
	return out, lut[r.bg^flip]
}

// scaleNearest writes src, each pixel repeated s times each way, into dst
// with its top-left corner at (off, off).
func scaleNearest(dst *spixGrey, src *image.Gray, s, off int) {
	for y := 0; y < src.Rect.Dy(); y++ {
		row := src.Pix[src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y+y):][:src.Rect.Dx()]
		out := dst.row(off + y*s)
		for x, v := range row {
			for i := 0; i < s; i++ {
				out[at(off+x*s+i)] = v
			}
		}
		for i := 1; i < s; i++ {
			copy(dst.row(off+y*s+i), out)
		}
	}
}

// scaleBilinear writes src scaled s times with bilinear interpolation into
// dst at (off, off). Output pixel i samples the source at (i+0.5)/s - 0.5,
// so pixel centres line up and a box divided by s lands where it was.
// Weights are in 1/256ths.
func scaleBilinear(dst *spixGrey, src *image.Gray, s, off int) {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	x0, wx := bilinearTaps(w, s)
	y0, wy := bilinearTaps(h, s)
	pix := func(x, y int) int { return int(src.Pix[src.PixOffset(src.Rect.Min.X+x, src.Rect.Min.Y+y)]) }
	tmp := make([]int, w) // the two source rows blended vertically
	for oy := range h * s {
		ya, yb, fy := y0[oy], min(y0[oy]+1, h-1), wy[oy]
		for x := range w {
			tmp[x] = pix(x, ya)*(256-fy) + pix(x, yb)*fy
		}
		out := dst.row(off + oy)
		for ox := range w * s {
			xa, xb, fx := x0[ox], min(x0[ox]+1, w-1), wx[ox]
			v := tmp[xa]*(256-fx) + tmp[xb]*fx
			out[at(off+ox)] = uint8((v + 1<<15) >> 16)
		}
	}
}

// bilinearTaps returns, for each of n*s output positions, the first source
// index to blend and the second one's weight in 1/256ths.
func bilinearTaps(n, s int) (idx, weight []int) {
	idx, weight = make([]int, n*s), make([]int, n*s)
	for o := range n * s {
		// Source position (o+0.5)/s - 0.5, in 1/(2s) units: (2o+1-s)/(2s).
		num := 2*o + 1 - s
		if num < 0 {
			continue // before the first pixel's centre: the first pixel
		}
		idx[o] = num / (2 * s)
		weight[o] = (num % (2 * s)) * 256 / (2 * s)
		if idx[o] >= n-1 {
			idx[o], weight[o] = n-1, 0
		}
	}
	return idx, weight
}
