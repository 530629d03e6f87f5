package regions

import (
	"image"
	"image/draw"

	"github.com/cespare/xxhash/v2"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// TileSize is the side of a tile in pixels. 32 is about two lines of UI
// text: small enough that a caret blink or a hover dirties one button's
// band, large enough that a 1280x800 grid is 1000 hashes (8 KB per frame).
const TileSize = 32

// Hash hashes img's pixels in tiles of size x size (TileSize when size <= 0).
// It reads img.Pix directly; a 1280x800 frame takes about a millisecond.
func Hash(img *image.RGBA, size int) *messages.TileGrid {
	if size <= 0 {
		size = TileSize
	}
	b := img.Rect
	g := &messages.TileGrid{Size: size, Width: b.Dx(), Height: b.Dy()}
	cols, rows := g.Cols(), g.Rows()
	g.Hash = make([]uint64, cols*rows)
	var d xxhash.Digest
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			d.Reset()
			x0, x1 := c*size, min((c+1)*size, g.Width)
			for y := r * size; y < min((r+1)*size, g.Height); y++ {
				off := y*img.Stride + x0*4
				_, _ = d.Write(img.Pix[off : off+(x1-x0)*4])
			}
			g.Hash[r*cols+c] = d.Sum64()
		}
	}
	return g
}

// ToRGBA returns img as an *image.RGBA with its origin at (0, 0), copying
// only when it is not one already.
func ToRGBA(img image.Image) *image.RGBA {
	if rgba, ok := img.(*image.RGBA); ok && rgba.Rect.Min == (image.Point{}) {
		return rgba
	}
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Rect, img, b.Min, draw.Src)
	return out
}
