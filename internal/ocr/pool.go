package ocr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"reflect"
	"runtime"
	"strconv"
	"sync"

	"github.com/otiai10/gosseract/v2"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// ErrClosed is returned by Recognize once Close has been called.
var ErrClosed = errors.New("ocr pool closed")

// Options tune the engines of a Pool. The zero value is what UI frames need.
type Options struct {
	// Languages are Tesseract language names; default ["eng"].
	Languages []string
	// PageSegMode is Tesseract's page segmentation mode. Default 3 (automatic):
	// on Firefox frames of the example pages, mode 6 (single block) read only
	// the first line and missed every row of fields and buttons; mode 11
	// (sparse) read 16 px "Cancel" as "Cancet"; mode 3 read both page sets
	// right. Use 7 for a crop holding one line.
	PageSegMode int
	// DPI is given to Tesseract because screenshots carry none; without it
	// every call logs "Estimating resolution". Default 96.
	DPI int
}

func (o Options) withDefaults() Options {
	if len(o.Languages) == 0 {
		o.Languages = []string{"eng"}
	}
	if o.PageSegMode == 0 {
		o.PageSegMode = int(gosseract.PSM_AUTO)
	}
	if o.DPI == 0 {
		o.DPI = 96
	}
	return o
}

// Pool is a fixed set of Tesseract engines. Each engine is used by one
// goroutine at a time; Recognize waits for a free one.
type Pool struct {
	opts    Options
	size    int
	idle    chan *gosseract.Client
	closing chan struct{}
	once    sync.Once
}

// NewPool starts n engines (n <= 0 means runtime.NumCPU()) and runs one
// warm-up recognition on each, so a missing language file or library fails
// here rather than on the first frame.
func NewPool(n int, opts Options) (*Pool, error) {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	p := &Pool{
		opts:    opts.withDefaults(),
		size:    n,
		idle:    make(chan *gosseract.Client, n),
		closing: make(chan struct{}),
	}
	warm, err := blankPNG()
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		c, err := p.newEngine(warm)
		if err != nil {
			p.closeIdle(i)
			return nil, fmt.Errorf("ocr engine %d: %w", i, err)
		}
		p.idle <- c
	}
	return p, nil
}

// initMu makes Tesseract initialisations run one at a time in the process,
// across pools: gosseract's Init points file descriptor 2 at /dev/null and
// back while it runs, and two at once can leave stderr on /dev/null for
// good. It guards that process-wide descriptor, hence package level.
var initMu sync.Mutex

// newEngine creates a client and forces Tesseract's initialisation with a
// warm-up recognition. The engine is never re-initialised afterwards: its
// language and config do not change.
func (p *Pool) newEngine(warm []byte) (*gosseract.Client, error) {
	c := gosseract.NewClient()
	if err := p.configure(c); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.SetImageFromBytes(warm); err != nil {
		c.Close()
		return nil, fmt.Errorf("warm-up image: %w", err)
	}
	initMu.Lock()
	_, err := c.Text()
	initMu.Unlock()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	return c, nil
}

func (p *Pool) configure(c *gosseract.Client) error {
	if err := c.SetLanguage(p.opts.Languages...); err != nil {
		return fmt.Errorf("set language: %w", err)
	}
	dpi := strconv.Itoa(p.opts.DPI)
	if err := c.SetVariable(gosseract.SettableVariable("user_defined_dpi"), dpi); err != nil {
		return fmt.Errorf("set user_defined_dpi: %w", err)
	}
	return nil
}

// Size is the number of engines.
func (p *Pool) Size() int { return p.size }

// Recognize finds the text on one encoded image (PNG or JPEG) and returns
// its lines and words (see Boxes). ctx bounds the wait for a free engine; a
// recognition that has started runs to the end. Errors: ErrBadImage for an
// image that cannot be read, ErrClosed, or ctx's error.
func (p *Pool) Recognize(ctx context.Context, encoded []byte) ([]messages.Box, error) {
	if _, err := CheckImage(encoded); err != nil {
		return nil, err
	}
	c, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { p.idle <- c }()
	words, err := p.recognize(c, encoded)
	if err != nil {
		return nil, err
	}
	return Boxes(words), nil
}

func (p *Pool) acquire(ctx context.Context) (*gosseract.Client, error) {
	select {
	case <-p.closing:
		return nil, ErrClosed
	default:
	}
	select {
	case c := <-p.idle:
		return c, nil
	case <-p.closing:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for an ocr engine: %w", ctx.Err())
	}
}

func (p *Pool) recognize(c *gosseract.Client, encoded []byte) ([]gosseract.BoundingBox, error) {
	return p.recognizeMode(c, encoded, p.opts.PageSegMode)
}

// recognizeMode recognises an image Leptonica can read, in page
// segmentation mode psm.
func (p *Pool) recognizeMode(c *gosseract.Client, encoded []byte, psm int) ([]gosseract.BoundingBox, error) {
	if err := c.SetImageFromBytes(encoded); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadImage, err)
	}
	if !pixLoaded(c) {
		return nil, fmt.Errorf("%w: leptonica could not decode it", ErrBadImage)
	}
	// Tesseract resets the mode when it initialises, so it is set every time.
	if err := c.SetPageSegMode(gosseract.PageSegMode(psm)); err != nil {
		return nil, fmt.Errorf("set page segmentation mode: %w", err)
	}
	words, err := c.GetBoundingBoxesVerbose()
	if err != nil {
		return nil, fmt.Errorf("recognize: %w", err)
	}
	return words, nil
}

// pixLoaded reports whether Leptonica decoded the image last given to c.
// gosseract v2.4.1 hands a NULL image to Tesseract when Leptonica fails (a
// truncated PNG with a valid header is enough), which crashes the process,
// and has no API that says so; its unexported field is the only witness.
// Should a gosseract upgrade rename the field, this reports false and every
// recognition fails loudly instead of crashing.
func pixLoaded(c *gosseract.Client) bool {
	f := reflect.ValueOf(c).Elem().FieldByName("pixImage")
	return f.IsValid() && f.Kind() == reflect.UnsafePointer && !f.IsNil()
}

// Close stops new recognitions, waits for those in flight and frees every
// engine. It is safe to call more than once.
func (p *Pool) Close() error {
	p.once.Do(func() {
		close(p.closing)
		p.closeIdle(p.size)
	})
	return nil
}

// closeIdle takes n engines back from the idle channel, waiting for busy
// ones, and frees them.
func (p *Pool) closeIdle(n int) {
	for i := 0; i < n; i++ {
		c := <-p.idle
		c.Close()
	}
}

// blankPNG is a small white image used to initialise an engine.
func blankPNG() ([]byte, error) {
	img := image.NewGray(image.Rect(0, 0, 64, 32))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode warm-up image: %w", err)
	}
	return buf.Bytes(), nil
}
