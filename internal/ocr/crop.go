package ocr

import (
	"context"
	"fmt"
	"image"

	"github.com/otiai10/gosseract/v2"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Page segmentation modes RecognizeImage uses (Tesseract's numbering).
const (
	PSMBlock      = int(gosseract.PSM_SINGLE_BLOCK) // 6
	PSMSingleLine = int(gosseract.PSM_SINGLE_LINE)  // 7
	PSMSingleWord = int(gosseract.PSM_SINGLE_WORD)  // 8
	PSMSparse     = int(gosseract.PSM_SPARSE_TEXT)  // 11
)

// Defaults of CropOptions.
const (
	// DefaultCropPad is the border of background colour added around a crop:
	// Tesseract misses a word whose ink touches the image's edge (C07), and
	// a few pixels are enough.
	DefaultCropPad = 6
	// DefaultGlyphHeight is the least text height (the ink of a line) that
	// small text is scaled up to. Tesseract's LSTM reads capitals of 20-30
	// px best (C08). Ink of 11-16 px UI text is 8-15 px high and is doubled:
	// at native size "S" and "6" of "FRS6HR45KS4" read as "5" and "G" (C07),
	// and tripling 11 px text read "FRS6GHR45KS4" on a dark button. Text
	// 16 px high or more is left alone. Doubling makes a recognition about
	// 2-3 times slower, and only crops pay it.
	DefaultGlyphHeight = 16
	// DefaultMaxScale bounds the upscaling factor: 4 reads 7 px text, and
	// anything smaller is not text a person can read either.
	DefaultMaxScale = 4
)

// CropOptions tune RecognizeImage. The zero value suits a crop of a UI
// control or of a few lines of text.
type CropOptions struct {
	// PSM is Tesseract's page segmentation mode. 0 picks 7 (single line) when
	// the region holds one line of text, else 6 (single block). A result
	// with no words is retried once in another mode (C07): 7 and 8 (single
	// word) try each other, 6 tries 11 (sparse text), any other tries 6.
	PSM int
	// Pad is the border of the region's own background colour added on
	// every side, in region pixels; 0 means DefaultCropPad, negative none.
	Pad int
	// KeepPolarity turns off the inversion of light text on a darker
	// background into dark on light (C08).
	KeepPolarity bool
	// GlyphHeight is the least text height, in pixels, of the image
	// Tesseract gets: text whose measured height (the median text line's
	// ink) is less is scaled up by the smallest whole factor that reaches
	// it (C08), bilinear for anti-aliased text, nearest neighbour for a
	// pixel font. 0 means DefaultGlyphHeight, negative turns scaling off.
	GlyphHeight int
	// MaxScale bounds the factor; 0 means DefaultMaxScale.
	MaxScale int
}

func (o CropOptions) withDefaults() CropOptions {
	switch {
	case o.Pad == 0:
		o.Pad = DefaultCropPad
	case o.Pad < 0:
		o.Pad = 0
	}
	if o.GlyphHeight == 0 {
		o.GlyphHeight = DefaultGlyphHeight
	}
	if o.MaxScale <= 0 {
		o.MaxScale = DefaultMaxScale
	}
	return o
}

// RecognizeImage recognises one region. img may be a SubImage of a frame; boxes come back in img's own
// coordinates (offset by img.Bounds().Min), so a caller can pass crops of a frame directly.
//
// The region is made grey, stripped of border lines along its edges, padded
// with its own background colour, inverted when its text is lighter than
// its background, and scaled up by a whole factor when its text is small;
// the boxes are mapped back through all of that exactly. A region with no
// ink at all costs no recognition. ctx bounds the wait for a free engine.
// Errors: ErrBadImage for a nil or empty image or one larger than MaxSide,
// ErrClosed, or ctx's error.
func (p *Pool) RecognizeImage(ctx context.Context, img image.Image,
	opts CropOptions) ([]messages.Box, error) {
	if err := checkRegion(img); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	prep := prepare(toGrey(img), opts)
	if prep == nil {
		return nil, nil
	}
	psm := opts.PSM
	if psm == 0 {
		psm = PSMBlock
		if prep.lines <= 1 {
			psm = PSMSingleLine
		}
	}
	c, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { p.idle <- c }()
	words, err := p.recognizeRestoring(c, prep.img.bytes(), psm)
	if err == nil && len(Boxes(words)) == 0 {
		words, err = p.recognizeRestoring(c, prep.img.bytes(), retryMode(psm))
	}
	if err != nil {
		return nil, err
	}
	origin := img.Bounds().Min
	for i := range words {
		words[i].Box = prep.toRegion(words[i].Box).Add(origin)
	}
	return Boxes(words), nil
}

// recognizeRestoring recognises in mode psm, then gives the engine back the
// pool's own mode.
func (p *Pool) recognizeRestoring(c *gosseract.Client, data []byte,
	psm int) ([]gosseract.BoundingBox, error) {
	defer func() { _ = c.SetPageSegMode(gosseract.PageSegMode(p.opts.PageSegMode)) }()
	return p.recognizeMode(c, data, psm)
}

// retryMode is the mode tried when psm found no words (C07).
func retryMode(psm int) int {
	switch psm {
	case PSMSingleLine:
		return PSMSingleWord
	case PSMSingleWord:
		return PSMSingleLine
	case PSMBlock:
		return PSMSparse
	}
	return PSMBlock
}

func checkRegion(img image.Image) error {
	if img == nil {
		return fmt.Errorf("%w: no image", ErrBadImage)
	}
	b := img.Bounds()
	if b.Empty() {
		return fmt.Errorf("%w: empty region %v", ErrBadImage, b)
	}
	if b.Dx() > MaxSide || b.Dy() > MaxSide {
		return fmt.Errorf("%w: region of %dx%d pixels exceeds %dx%d", ErrBadImage, b.Dx(), b.Dy(),
			MaxSide, MaxSide)
	}
	return nil
}
