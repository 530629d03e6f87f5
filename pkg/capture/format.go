package capture

import (
	"fmt"
	"image"
	"math/bits"

	"github.com/jezek/xgb/xproto"
)

// pixelFormat describes how the server lays out ZPixmap image data for the
// root window: bits per pixel, row padding, byte order and channel masks.
type pixelFormat struct {
	depth    byte
	bpp      int  // bits per pixel: 16, 24 or 32
	pad      int  // scanline pad in bits
	msbFirst bool // image byte order
	red      channel
	green    channel
	blue     channel
}

// channel locates one colour component inside a pixel value.
type channel struct {
	mask  uint32
	shift uint
	max   uint32 // largest component value: mask >> shift
}

// formatFromSetup reads the root visual's masks and the pixmap format of the
// root depth from the connection setup.
func formatFromSetup(setup *xproto.SetupInfo, screen *xproto.ScreenInfo) (pixelFormat, error) {
	visual, err := rootVisual(screen)
	if err != nil {
		return pixelFormat{}, err
	}
	f := pixelFormat{
		depth:    screen.RootDepth,
		msbFirst: setup.ImageByteOrder == xproto.ImageOrderMSBFirst,
	}
	for _, pf := range setup.PixmapFormats {
		if pf.Depth == screen.RootDepth {
			f.bpp, f.pad = int(pf.BitsPerPixel), int(pf.ScanlinePad)
		}
	}
	if f.bpp == 0 {
		return pixelFormat{}, fmt.Errorf("%w: no pixmap format for depth %d",
			ErrUnsupportedFormat, screen.RootDepth)
	}
	return f.withMasks(visual.RedMask, visual.GreenMask, visual.BlueMask)
}

func rootVisual(screen *xproto.ScreenInfo) (xproto.VisualInfo, error) {
	for _, d := range screen.AllowedDepths {
		for _, v := range d.Visuals {
			if v.VisualId != screen.RootVisual {
				continue
			}
			if v.Class != xproto.VisualClassTrueColor {
				return v, fmt.Errorf("%w: root visual class %d is not TrueColor",
					ErrUnsupportedFormat, v.Class)
			}
			return v, nil
		}
	}
	return xproto.VisualInfo{}, fmt.Errorf("%w: root visual %d not listed",
		ErrUnsupportedFormat, screen.RootVisual)
}

// withMasks validates the layout and sets the channel masks.
func (f pixelFormat) withMasks(r, g, b uint32) (pixelFormat, error) {
	if f.bpp != 16 && f.bpp != 24 && f.bpp != 32 {
		return f, fmt.Errorf("%w: %d bits per pixel", ErrUnsupportedFormat, f.bpp)
	}
	if f.pad == 0 || f.pad%8 != 0 {
		return f, fmt.Errorf("%w: scanline pad %d", ErrUnsupportedFormat, f.pad)
	}
	var err error
	for _, c := range []struct {
		dst  *channel
		mask uint32
	}{{&f.red, r}, {&f.green, g}, {&f.blue, b}} {
		if *c.dst, err = newChannel(c.mask); err != nil {
			return f, err
		}
	}
	return f, nil
}

func newChannel(mask uint32) (channel, error) {
	shift := uint(bits.TrailingZeros32(mask))
	if m := mask >> shift; mask == 0 || m&(m+1) != 0 {
		return channel{}, fmt.Errorf("%w: colour mask %#x is not contiguous",
			ErrUnsupportedFormat, mask)
	}
	return channel{mask: mask, shift: shift, max: mask >> shift}, nil
}

// stride returns the number of bytes in one row of w pixels.
func (f pixelFormat) stride(w int) int {
	rowBits := w * f.bpp
	return (rowBits + f.pad - 1) / f.pad * f.pad / 8
}

// isBGRX reports whether the layout is the common one (Xvfb depth 24) that
// the fast path handles: 32-bit little-endian pixels 0x00RRGGBB.
func (f pixelFormat) isBGRX() bool {
	return f.bpp == 32 && !f.msbFirst &&
		f.red.mask == 0xff0000 && f.green.mask == 0xff00 && f.blue.mask == 0xff
}

// convert writes the w×h image in src (in this format) into dst, which must
// be w×h with its origin at (0,0).
func (f pixelFormat) convert(dst *image.RGBA, src []byte, w, h int) error {
	stride := f.stride(w)
	if need := stride*(h-1) + (w*f.bpp+7)/8; h > 0 && len(src) < need {
		return fmt.Errorf("capture: image data is %d bytes, want at least %d", len(src), need)
	}
	fast := f.isBGRX()
	for y := 0; y < h; y++ {
		row := src[y*stride:]
		out := dst.Pix[y*dst.Stride : y*dst.Stride+w*4]
		if fast {
			convertBGRX(out, row[:w*4])
		} else {
			f.convertRow(out, row, w)
		}
	}
	return nil
}

// convertBGRX is the fast path: B, G, R, X bytes to R, G, B, A. The
// three-index slices let the compiler drop bounds checks (2x faster).
func convertBGRX(out, row []byte) {
	n := min(len(row), len(out)) &^ 3
	for i := 0; i < n; i += 4 {
		s := row[i : i+4 : i+4]
		d := out[i : i+4 : i+4]
		d[0], d[1], d[2], d[3] = s[2], s[1], s[0], 0xff
	}
}

func (f pixelFormat) convertRow(out, row []byte, w int) {
	n := f.bpp / 8
	for x := 0; x < w; x++ {
		p := f.pixel(row[x*n : x*n+n])
		o := out[x*4 : x*4+4]
		o[0], o[1], o[2], o[3] = f.red.scale(p), f.green.scale(p), f.blue.scale(p), 0xff
	}
}

// pixel reads one pixel value of len(b) bytes in the server's byte order.
func (f pixelFormat) pixel(b []byte) uint32 {
	var v uint32
	for i := range b {
		if f.msbFirst {
			v = v<<8 | uint32(b[i])
		} else {
			v |= uint32(b[i]) << (8 * i)
		}
	}
	return v
}

// scale extracts the component from pixel p and scales it to 8 bits.
func (c channel) scale(p uint32) uint8 {
	v := (p & c.mask) >> c.shift
	if c.max == 0xff {
		return uint8(v)
	}
	return uint8((uint64(v)*0xff + uint64(c.max)/2) / uint64(c.max))
}
