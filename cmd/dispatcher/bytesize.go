package main

import (
	"fmt"

	units "github.com/docker/go-units"
)

// byteSize is a flag for a size in bytes written as Docker writes them:
// 512m, 1g, 2GiB or a plain number of bytes.
type byteSize int64

func (b *byteSize) String() string {
	if b == nil {
		return ""
	}
	return units.BytesSize(float64(*b))
}

func (b *byteSize) Set(s string) error {
	n, err := units.RAMInBytes(s)
	if err != nil {
		return fmt.Errorf("size %q: %w", s, err)
	}
	if n <= 0 {
		return fmt.Errorf("size %q: must be positive", s)
	}
	*b = byteSize(n)
	return nil
}
