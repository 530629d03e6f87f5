package yolo

import (
	"image"
	"image/draw"
	"math"
)

// PadValue is the gray the letterbox padding is filled with, as Ultralytics
// does (114/255 after normalisation).
const PadValue = 114

// Transform is how one frame was letterboxed into the model input: resized
// by ScaleX, ScaleY (the new size over the frame size, per axis, so rounding
// the resized size is accounted for exactly) and shifted by PadX, PadY.
type Transform struct {
	SrcW, SrcH     int // frame size
	DstW, DstH     int // model input size
	NewW, NewH     int // frame size after resizing, inside the input
	PadX, PadY     int // left and top padding
	ScaleX, ScaleY float64
}

// NewTransform letterboxes a srcW x srcH frame into dstW x dstH: one scale
// keeping the aspect ratio, the resized frame centred, the rest padded, with
// Ultralytics' rounding (top/left get the smaller half of an odd padding).
func NewTransform(srcW, srcH, dstW, dstH int) Transform {
	r := math.Min(float64(dstW)/float64(srcW), float64(dstH)/float64(srcH))
	newW := min(dstW, max(1, int(math.Round(float64(srcW)*r))))
	newH := min(dstH, max(1, int(math.Round(float64(srcH)*r))))
	dw, dh := float64(dstW-newW)/2, float64(dstH-newH)/2
	return Transform{
		SrcW: srcW, SrcH: srcH, DstW: dstW, DstH: dstH, NewW: newW, NewH: newH,
		PadX:   int(math.Round(dw - 0.1)),
		PadY:   int(math.Round(dh - 0.1)),
		ScaleX: float64(newW) / float64(srcW),
		ScaleY: float64(newH) / float64(srcH),
	}
}

// ToFrame maps a box in input pixels back to frame pixels, clamped to the
// frame.
func (t Transform) ToFrame(b Box) Box {
	fx := func(x float32) float32 {
		return clamp32((x-float32(t.PadX))/float32(t.ScaleX), float32(t.SrcW))
	}
	fy := func(y float32) float32 {
		return clamp32((y-float32(t.PadY))/float32(t.ScaleY), float32(t.SrcH))
	}
	b.X1, b.Y1, b.X2, b.Y2 = fx(b.X1), fy(b.Y1), fx(b.X2), fy(b.Y2)
	return b
}

// ToInput maps a box in frame pixels into input pixels (the inverse of
// ToFrame, without clamping).
func (t Transform) ToInput(b Box) Box {
	b.X1 = b.X1*float32(t.ScaleX) + float32(t.PadX)
	b.X2 = b.X2*float32(t.ScaleX) + float32(t.PadX)
	b.Y1 = b.Y1*float32(t.ScaleY) + float32(t.PadY)
	b.Y2 = b.Y2*float32(t.ScaleY) + float32(t.PadY)
	return b
}

func clamp32(v, hi float32) float32 {
	return min(max(v, 0), hi)
}

// Fill writes img, letterboxed by t, into dst as FP32 CHW (3 planes of
// DstH x DstW, RGB, scaled to 0..1). dst must hold 3*DstW*DstH values. The
// resize is bilinear, sampling pixel centres, as Ultralytics' letterbox does
// (OpenCV's INTER_LINEAR); with area set, a frame that shrinks is averaged
// over each output pixel's footprint instead (OpenCV's INTER_AREA), which
// keeps the 1 px outlines of UI controls that bilinear sampling skips below
// half size.
func (t Transform) Fill(dst []float32, img image.Image, area bool) {
	src := RGBA(img)
	plane := t.DstW * t.DstH
	pad := float32(PadValue) / 255
	for i := range 3 * plane {
		dst[i] = pad
	}
	if area && t.ScaleX < 1 && t.ScaleY < 1 {
		t.fillArea(dst, src)
		return
	}
	b := src.Bounds()
	for y := range t.NewH {
		sy := (float64(y)+0.5)/t.ScaleY - 0.5
		y0, y1, fy := lerpIndex(sy, b.Dy())
		for x := range t.NewW {
			sx := (float64(x)+0.5)/t.ScaleX - 0.5
			x0, x1, fx := lerpIndex(sx, b.Dx())
			o := (y+t.PadY)*t.DstW + x + t.PadX
			for c := range 3 {
				v := bilinear(src, x0, x1, y0, y1, fx, fy, c)
				dst[c*plane+o] = float32(v / 255)
			}
		}
	}
}

// fillArea resamples src into dst's content area by averaging.
func (t Transform) fillArea(dst []float32, src *image.RGBA) {
	cols, rows := footprints(t.NewW, t.ScaleX, src.Bounds().Dx()), footprints(t.NewH, t.ScaleY,
		src.Bounds().Dy())
	plane := t.DstW * t.DstH
	for y, row := range rows {
		for x, col := range cols {
			var sum [3]float64
			for _, ry := range row {
				for _, cx := range col {
					o := ry.i*src.Stride + cx.i*4
					w := ry.w * cx.w
					for c := range 3 {
						sum[c] += w * float64(src.Pix[o+c])
					}
				}
			}
			o := (y+t.PadY)*t.DstW + x + t.PadX
			for c := range 3 {
				dst[c*plane+o] = float32(sum[c] / 255)
			}
		}
	}
}

// tap is one source index and its weight.
type tap struct {
	i int
	w float64
}

// footprints lists, for each of n output pixels at the given scale, the
// source pixels it covers and by how much (weights sum to 1).
func footprints(n int, scale float64, srcN int) [][]tap {
	out := make([][]tap, n)
	for o := range n {
		lo, hi := float64(o)/scale, math.Min(float64(o+1)/scale, float64(srcN))
		for i := int(lo); float64(i) < hi && i < srcN; i++ {
			w := math.Min(hi, float64(i+1)) - math.Max(lo, float64(i))
			if w > 0 {
				out[o] = append(out[o], tap{i: i, w: w * scale})
			}
		}
	}
	return out
}

// lerpIndex returns the two source indices around s and the weight of the
// second, clamped to [0, n).
func lerpIndex(s float64, n int) (int, int, float64) {
	if s < 0 {
		s = 0
	}
	i0 := int(s)
	if i0 >= n-1 {
		return n - 1, n - 1, 0
	}
	return i0, i0 + 1, s - float64(i0)
}

func bilinear(p *image.RGBA, x0, x1, y0, y1 int, fx, fy float64, c int) float64 {
	at := func(x, y int) float64 { return float64(p.Pix[y*p.Stride+x*4+c]) }
	top := at(x0, y0)*(1-fx) + at(x1, y0)*fx
	bot := at(x0, y1)*(1-fx) + at(x1, y1)*fx
	return top*(1-fy) + bot*fy
}

// RGBA returns img as an *image.RGBA with bounds at the origin, copying
// only when it must.
func RGBA(img image.Image) *image.RGBA {
	if p, ok := img.(*image.RGBA); ok && p.Bounds().Min == (image.Point{}) {
		return p
	}
	b := img.Bounds()
	p := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(p, p.Bounds(), img, b.Min, draw.Src)
	return p
}

// Image turns one FP32 CHW tensor of w x h (values 0..1) back into an image:
// what a model serving the tensor form sees.
func Image(chw []float32, w, h int) *image.RGBA {
	p := image.NewRGBA(image.Rect(0, 0, w, h))
	plane := w * h
	for i := range plane {
		for c := range 3 {
			p.Pix[i*4+c] = uint8(min(max(chw[c*plane+i]*255+0.5, 0), 255))
		}
		p.Pix[i*4+3] = 0xff
	}
	return p
}
