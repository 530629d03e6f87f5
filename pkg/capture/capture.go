// Package capture grabs the screen of an X server (in practice a sandbox's
// Xvfb) as RGBA images, in pure Go.
//
// A Capturer uses MIT-SHM when the server offers it and shares this
// process's IPC namespace, and falls back to plain GetImage otherwise; MIT-SHM
// is about 20 times faster for a full frame. Pixels are converted with the
// root visual's colour masks and the server's pixmap format, not assumed to
// be BGRX.
package capture

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/screenfleet/screenfleet/internal/xconn"
)

// Capture modes reported by Mode.
const (
	ModeSHM      = "shm"
	ModeGetImage = "getimage"
)

// openTimeout bounds all of Open: the handshake, the MIT-SHM set-up and its
// test image. A healthy local server needs a few milliseconds.
const openTimeout = 10 * time.Second

var (
	// ErrClosed is returned by Capture after Close.
	ErrClosed = errors.New("capture: capturer closed")
	// ErrUnsupportedFormat is returned by Open when the root window's visual
	// or pixmap format is one the converter does not handle (not TrueColor,
	// or not 16, 24 or 32 bits per pixel).
	ErrUnsupportedFormat = errors.New("capture: unsupported pixel format")
)

// Options adjust how a Capturer is opened. The zero value is the default.
type Options struct {
	// NoSHM forces plain GetImage even when MIT-SHM is available.
	NoSHM bool
	// NoDamage does not ask for DAMAGE events: Changes then returns nil.
	NoDamage bool
}

// Capturer captures the root window of one X screen. It is safe for
// concurrent use; captures are serialised.
type Capturer struct {
	conn   *xgb.Conn
	root   xproto.Window
	width  int
	height int
	format pixelFormat

	shm        *shmSegment // nil in getimage mode
	shmFailure error       // why MIT-SHM is not used, if it was tried

	changes       *Changes // nil without DAMAGE events
	damageFailure error    // why DAMAGE is not used, if it was tried

	mu        sync.Mutex // held for each capture; guards closed and shm memory
	closed    bool
	closeOnce sync.Once
	closeErr  error
}

// Open connects to display (such as ":3"; "" means $DISPLAY) with default
// options. See OpenWithOptions.
func Open(display string) (*Capturer, error) {
	return OpenWithOptions(display, Options{})
}

// OpenWithOptions connects to display and prepares full-screen captures of
// its default screen. It uses MIT-SHM unless opts.NoSHM is set or the
// extension cannot be used, in which case it falls back to GetImage (see
// Mode and SHMFailure). Open gives up after 10 s.
func OpenWithOptions(display string, opts Options) (*Capturer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()

	conn, err := xconn.Connect(ctx, display)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	c, err := newCapturer(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if !opts.NoDamage {
		if c.damageFailure = watchDamage(ctx, conn, c.root); c.damageFailure == nil {
			c.changes = newChanges()
		} else {
			c.damageFailure = fmt.Errorf("capture: damage unavailable: %w", c.damageFailure)
		}
	}
	go readEvents(conn, c.changes) // ends when the connection closes
	if !opts.NoSHM {
		c.shm, c.shmFailure = attachSHM(ctx, conn, c.root, c.format.stride(c.width)*c.height)
		if c.shmFailure != nil {
			c.shmFailure = fmt.Errorf("capture: mit-shm unavailable: %w", c.shmFailure)
		}
	}
	return c, nil
}

// newCapturer reads the screen size and pixel format from the setup.
func newCapturer(conn *xgb.Conn) (*Capturer, error) {
	setup := xproto.Setup(conn)
	if conn.DefaultScreen >= len(setup.Roots) {
		return nil, fmt.Errorf("capture: screen %d does not exist (server has %d)",
			conn.DefaultScreen, len(setup.Roots))
	}
	screen := setup.DefaultScreen(conn)
	format, err := formatFromSetup(setup, screen)
	if err != nil {
		return nil, err
	}
	return &Capturer{
		conn:   conn,
		root:   screen.Root,
		width:  int(screen.WidthInPixels),
		height: int(screen.HeightInPixels),
		format: format,
	}, nil
}

// Mode returns ModeSHM or ModeGetImage.
func (c *Capturer) Mode() string {
	if c.shm != nil {
		return ModeSHM
	}
	return ModeGetImage
}

// SHMFailure returns why MIT-SHM is not used: nil in shm mode or when it was
// turned off with Options.NoSHM.
func (c *Capturer) SHMFailure() error {
	return c.shmFailure
}

// Changes returns what reports the screen's changes as they happen, or nil
// when the server has no DAMAGE extension or Options.NoDamage was set (see
// DamageFailure).
func (c *Capturer) Changes() *Changes {
	return c.changes
}

// DamageFailure returns why Changes is nil: nil when DAMAGE is used or was
// turned off with Options.NoDamage.
func (c *Capturer) DamageFailure() error {
	return c.damageFailure
}

// Size returns the screen size in pixels, as read when the Capturer was
// opened.
func (c *Capturer) Size() (w, h int) {
	return c.width, c.height
}

// Capture returns the whole screen as a new RGBA image with its origin at
// (0,0). It returns ctx's error if ctx ends before the server answers.
func (c *Capturer) Capture(ctx context.Context) (*image.RGBA, error) {
	img := image.NewRGBA(image.Rect(0, 0, c.width, c.height))
	if err := c.CaptureInto(ctx, img); err != nil {
		return nil, err
	}
	return img, nil
}

// CaptureInto is like Capture but reuses dst, which must have bounds
// (0,0)-Size(). Streaming callers use it to avoid a 4·w·h allocation per
// frame.
func (c *Capturer) CaptureInto(ctx context.Context, dst *image.RGBA) error {
	if want := image.Rect(0, 0, c.width, c.height); dst.Rect != want {
		return fmt.Errorf("capture: destination bounds %v, want %v", dst.Rect, want)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	data, err := c.grab(ctx)
	if err != nil {
		return err
	}
	return c.format.convert(dst, data, c.width, c.height)
}

// grab fetches the raw screen image in the server's format.
func (c *Capturer) grab(ctx context.Context) ([]byte, error) {
	if c.shm != nil {
		return c.shm.image(ctx, c.conn, c.root, c.width, c.height)
	}
	reply, err := xconn.Await(ctx, func() (*xproto.GetImageReply, error) {
		return xproto.GetImage(c.conn, xproto.ImageFormatZPixmap, xproto.Drawable(c.root),
			0, 0, uint16(c.width), uint16(c.height), 0xffffffff).Reply()
	})
	if err != nil {
		return nil, fmt.Errorf("capture: get image: %w", err)
	}
	return reply.Data, nil
}

// Close closes the connection and releases the shared memory segment. It is
// idempotent; a Capture in progress returns an error.
func (c *Capturer) Close() error {
	c.closeOnce.Do(func() {
		// Closing the connection first makes a capture that waits for a
		// server that has gone away return, so it cannot hold the lock.
		c.conn.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		c.closed = true
		if c.shm != nil {
			c.closeErr = c.shm.detach()
		}
	})
	return c.closeErr
}
