// Package imagetest builds hostile images for the tests of image decoders.
package imagetest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

// PNGHeader returns a valid PNG signature and IHDR chunk for an 8-bit RGBA
// image of w x h pixels followed by an empty IDAT: a few dozen bytes that
// claim an image of any size. A decoder that trusts the header allocates
// w*h*4 bytes before finding the data missing.
func PNGHeader(w, h uint32) []byte {
	var buf bytes.Buffer
	buf.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // bit depth 8, colour type RGBA
	chunk(&buf, "IHDR", ihdr)
	chunk(&buf, "IDAT", nil)
	chunk(&buf, "IEND", nil)
	return buf.Bytes()
}

func chunk(buf *bytes.Buffer, kind string, data []byte) {
	_ = binary.Write(buf, binary.BigEndian, uint32(len(data)))
	crc := crc32.NewIEEE()
	crc.Write([]byte(kind))
	crc.Write(data)
	buf.WriteString(kind)
	buf.Write(data)
	_ = binary.Write(buf, binary.BigEndian, crc.Sum32())
}
