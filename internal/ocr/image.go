package ocr

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // frames arrive as JPEG or PNG
	_ "image/png"
)

// MaxSide is the largest width or height accepted. 8192 covers any display
// we drive (8K is 7680 wide) and keeps a hostile header from making Leptonica
// allocate gigabytes.
const MaxSide = 8192

// ErrBadImage is wrapped by the errors for images that cannot be read.
var ErrBadImage = errors.New("bad image")

// CheckImage reads the header of an encoded PNG or JPEG image and returns
// its size, or an error wrapping ErrBadImage when it is not one, or is empty
// or larger than MaxSide on a side. Only the header is read.
func CheckImage(encoded []byte) (image.Config, error) {
	if len(encoded) == 0 {
		return image.Config{}, fmt.Errorf("%w: empty", ErrBadImage)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(encoded))
	if err != nil {
		return image.Config{}, fmt.Errorf("%w: %w", ErrBadImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return image.Config{}, fmt.Errorf("%w: %s of %dx%d pixels", ErrBadImage, format, cfg.Width, cfg.Height)
	}
	if cfg.Width > MaxSide || cfg.Height > MaxSide {
		return image.Config{}, fmt.Errorf("%w: %s of %dx%d pixels exceeds %dx%d",
			ErrBadImage, format, cfg.Width, cfg.Height, MaxSide, MaxSide)
	}
	return cfg, nil
}
