package kserve

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrMalformedTensor is wrapped by every error DecodeBytesTensor returns.
var ErrMalformedTensor = errors.New("malformed BYTES tensor")

// lenPrefix is the size of the little-endian length before each element.
const lenPrefix = 4

// EncodeBytesTensor lays elems out as a raw BYTES tensor: for each element in
// order, its length as a 4-byte little-endian unsigned integer, then its
// bytes. It panics if an element is 4 GiB or longer, which the layout cannot
// express.
func EncodeBytesTensor(elems [][]byte) []byte {
	size := 0
	for _, e := range elems {
		size += lenPrefix + len(e)
	}
	out := make([]byte, 0, size)
	for i, e := range elems {
		if uint64(len(e)) > math.MaxUint32 {
			panic(fmt.Sprintf("kserve: BYTES element %d is %d bytes, over the 4 GiB limit", i, len(e)))
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(len(e)))
		out = append(out, e...)
	}
	return out
}

// DecodeBytesTensor splits a raw BYTES tensor into its elements. With n >= 0
// the tensor must hold exactly n elements; with n < 0 any count is accepted.
// The elements alias raw. Every length is checked against what remains, so a
// truncated buffer or an oversize length is an error wrapping
// ErrMalformedTensor, never a panic.
func DecodeBytesTensor(raw []byte, n int) ([][]byte, error) {
	// Each element needs at least its prefix, which bounds a sane capacity.
	capacity := len(raw) / lenPrefix
	if n >= 0 && n < capacity {
		capacity = n
	}
	elems := make([][]byte, 0, capacity)
	for rest := raw; len(rest) > 0; {
		i := len(elems)
		if len(rest) < lenPrefix {
			return nil, fmt.Errorf("%w: element %d: %d bytes left, too few for a length prefix",
				ErrMalformedTensor, i, len(rest))
		}
		size := uint64(binary.LittleEndian.Uint32(rest))
		rest = rest[lenPrefix:]
		if size > uint64(len(rest)) {
			return nil, fmt.Errorf("%w: element %d declares %d bytes but %d remain",
				ErrMalformedTensor, i, size, len(rest))
		}
		if n >= 0 && i >= n {
			return nil, fmt.Errorf("%w: more than the %d elements expected", ErrMalformedTensor, n)
		}
		elems = append(elems, rest[:size:size])
		rest = rest[size:]
	}
	if n >= 0 && len(elems) != n {
		return nil, fmt.Errorf("%w: %d elements, want %d", ErrMalformedTensor, len(elems), n)
	}
	return elems, nil
}
