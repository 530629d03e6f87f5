package ocr

import (
	"encoding/binary"
	"image"
)

// spixHeader is the size of Leptonica's "spix" serialisation header for an
// image without a colour map: the magic, width, height, depth, words per
// line, colour count, and the raster's byte size, each 32 bits.
const spixHeader = 7 * 4

// spixGrey serialises an 8-bit grey raster in Leptonica's own uncompressed
// format ("spix", read by pixReadMem through pixDeserializeFromMemory):
// the header, then the raster as Leptonica keeps it in memory, rows padded
// to 32-bit words, each word holding four pixels with the first in its most
// significant byte. Reading it back is one copy; a grey PNG costs an
// inflate and PGM a per-pixel parse (see BenchmarkCropHandoff).
//
// The words are in the host's byte order, which is what Leptonica copies
// them into (see at, per byte order).
type spixGrey struct {
	w, h int
	wpl  int // 32-bit words per row
	buf  []byte
}

func newSpixGrey(w, h int) *spixGrey {
	wpl := (w + 3) / 4
	s := &spixGrey{w: w, h: h, wpl: wpl, buf: make([]byte, spixHeader+4*wpl*h)}
	copy(s.buf, "spix")
	ne := binary.NativeEndian
	ne.PutUint32(s.buf[4:], uint32(w))
	ne.PutUint32(s.buf[8:], uint32(h))
	ne.PutUint32(s.buf[12:], 8)
	ne.PutUint32(s.buf[16:], uint32(wpl))
	ne.PutUint32(s.buf[20:], 0) // no colour map
	ne.PutUint32(s.buf[24:], uint32(4*wpl*h))
	return s
}

// row returns the bytes of row y in Leptonica's layout; use at to index it.
func (s *spixGrey) row(y int) []byte {
	off := spixHeader + 4*s.wpl*y
	return s.buf[off : off+4*s.wpl]
}

// fill sets every pixel to v.
func (s *spixGrey) fill(v uint8) {
	for i := spixHeader; i < len(s.buf); i++ {
		s.buf[i] = v
	}
}

// bytes returns the serialised image.
func (s *spixGrey) bytes() []byte { return s.buf }

// greyImage returns s's pixels as an image.Gray, for tests and debugging.
func (s *spixGrey) greyImage() *image.Gray {
	g := image.NewGray(image.Rect(0, 0, s.w, s.h))
	for y := 0; y < s.h; y++ {
		r := s.row(y)
		for x := 0; x < s.w; x++ {
			g.Pix[y*g.Stride+x] = r[at(x)]
		}
	}
	return g
}
