// Package rawframe is the cheap lossless frame format: a screen's RGBA
// pixels as they are, compressed with zstd at its fastest level. Encoding a
// 1280x800 UI frame takes about a millisecond, ten times less than PNG at
// its fastest, and decoding it about half that (BENCHMARKS.md).
//
// An encoded frame is the magic "SFRAW\x01", the width and height as
// little-endian uint32, then one zstd frame holding width*height*4 bytes,
// row after row. Importing the package registers the format with package
// image, so image.Decode and image.DecodeConfig read it like PNG.
package rawframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Magic begins every encoded frame.
const Magic = "SFRAW\x01"

// MaxSide is the largest width or height read: 8192 covers any display
// driven (8K is 7680 wide) and keeps a hostile header from making a decoder
// allocate gigabytes.
const MaxSide = 8192

const headerLen = len(Magic) + 8

// ErrFormat is wrapped by the errors for data that is not a valid frame.
var ErrFormat = errors.New("rawframe: invalid frame")

func init() {
	image.RegisterFormat("sfraw", Magic, Decode, DecodeConfig)
}

// Encoder encodes frames. It is safe for concurrent use.
type Encoder struct{ enc *zstd.Encoder }

// NewEncoder returns an Encoder at zstd's fastest level, one goroutine per
// frame (the agent encodes one frame at a time, and cores are shared).
func NewEncoder() (*Encoder, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("rawframe: %w", err)
	}
	return &Encoder{enc: enc}, nil
}

// Encode encodes img's pixels; img may be a sub-image.
func (e *Encoder) Encode(img *image.RGBA) []byte {
	b := img.Rect
	w, h := b.Dx(), b.Dy()
	out := make([]byte, headerLen, headerLen+w*h/16)
	copy(out, Magic)
	binary.LittleEndian.PutUint32(out[len(Magic):], uint32(w))
	binary.LittleEndian.PutUint32(out[len(Magic)+4:], uint32(h))
	if img.Stride == 4*w {
		return e.enc.EncodeAll(img.Pix[img.PixOffset(b.Min.X, b.Min.Y):][:4*w*h], out)
	}
	rows := make([]byte, 0, 4*w*h)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		rows = append(rows, img.Pix[img.PixOffset(b.Min.X, y):][:4*w]...)
	}
	return e.enc.EncodeAll(rows, out)
}

// DecodeConfig reads a frame's header.
func DecodeConfig(r io.Reader) (image.Config, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return image.Config{}, fmt.Errorf("%w: header: %w", ErrFormat, err)
	}
	if string(hdr[:len(Magic)]) != Magic {
		return image.Config{}, fmt.Errorf("%w: no %q magic", ErrFormat, Magic)
	}
	w := binary.LittleEndian.Uint32(hdr[len(Magic):])
	h := binary.LittleEndian.Uint32(hdr[len(Magic)+4:])
	if w == 0 || h == 0 || w > MaxSide || h > MaxSide {
		return image.Config{}, fmt.Errorf("%w: size %dx%d out of range (1 to %d a side)", ErrFormat, w, h,
			MaxSide)
	}
	return image.Config{ColorModel: color.RGBAModel, Width: int(w), Height: int(h)}, nil
}

// Decode reads a frame. The zstd data must hold exactly the pixels the
// header announces: no more is read or allocated than that. Known
// shortcoming: the image is allocated before the pixels are read, so a
// small hostile frame can cost up to 4*MaxSide*MaxSide bytes (256 MiB)
// before it is refused; callers bound the size first (the worker checks the
// header against the frame's own, bounded, size).
func Decode(r io.Reader) (image.Image, error) {
	return DecodeRGBA(r)
}

// DecodeRGBA is Decode returning the *image.RGBA it makes.
func DecodeRGBA(r io.Reader) (*image.RGBA, error) {
	cfg, err := DecodeConfig(r)
	if err != nil {
		return nil, err
	}
	size := 4 * cfg.Width * cfg.Height
	dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(uint64(size)+1<<20), zstd.WithDecoderMaxWindow(1<<25))
	if err != nil {
		return nil, fmt.Errorf("rawframe: %w", err)
	}
	defer dec.Close()
	img := image.NewRGBA(image.Rect(0, 0, cfg.Width, cfg.Height))
	if _, err := io.ReadFull(dec, img.Pix); err != nil {
		return nil, fmt.Errorf("%w: pixels of %dx%d: %w", ErrFormat, cfg.Width, cfg.Height, err)
	}
	var one [1]byte
	if n, _ := dec.Read(one[:]); n > 0 {
		return nil, fmt.Errorf("%w: more pixel data than %dx%d", ErrFormat, cfg.Width, cfg.Height)
	}
	return img, nil
}

// Decoder decodes frames held in memory, reusing zstd's state between
// frames (Decode through package image builds it anew each time, about
// five times slower). It is safe for concurrent use.
type Decoder struct{ dec *zstd.Decoder }

// NewDecoder returns a Decoder.
func NewDecoder() (*Decoder, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(4*MaxSide*MaxSide), zstd.WithDecoderMaxWindow(1<<25))
	if err != nil {
		return nil, fmt.Errorf("rawframe: %w", err)
	}
	return &Decoder{dec: dec}, nil
}

// Decode decodes an encoded frame. The zstd data must hold exactly the
// pixels the header announces.
func (d *Decoder) Decode(data []byte) (*image.RGBA, error) {
	cfg, err := DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, cfg.Width, cfg.Height))
	pix, err := d.dec.DecodeAll(data[headerLen:], img.Pix[:0])
	if err != nil {
		return nil, fmt.Errorf("%w: pixels of %dx%d: %w", ErrFormat, cfg.Width, cfg.Height, err)
	}
	if len(pix) != len(img.Pix) {
		return nil, fmt.Errorf("%w: %d bytes of pixels for %dx%d", ErrFormat, len(pix), cfg.Width, cfg.Height)
	}
	return img, nil
}

// DecodeBytes decodes an encoded frame held in memory, through package
// image's path; a Decoder is quicker for many frames.
func DecodeBytes(data []byte) (*image.RGBA, error) {
	return DecodeRGBA(bytes.NewReader(data))
}
