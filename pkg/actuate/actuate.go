// Package actuate drives the pointer and keyboard of an X server (in
// practice a sandbox's Xvfb) through the XTEST extension, in pure Go.
//
// Input always goes through XTEST FakeInput, as if from real devices, and
// never through SendEvent, whose events applications may ignore. Every
// action ends with a round trip, so when it returns the server has
// processed its events. Key presses are paced: each press/release pair is
// followed by a round trip and a short delay, because applications given
// key events back to back have been seen to reorder them.
package actuate

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
	"github.com/jezek/xgb/xtest"

	"github.com/screenfleet/screenfleet/internal/xconn"
)

const (
	// DefaultKeyDelay is the pause after each key press/release pair. 0 ms
	// reordered typed text in the field (C01) while 4 ms and 12 ms did not;
	// 8 ms keeps a margin and types about 100 characters a second.
	DefaultKeyDelay = 8 * time.Millisecond

	// DefaultRemapHold is how long a spare keycode stays bound to a
	// character after its last use before the mapping is restored. Clients
	// such as GTK look the keymap up when they process a key event, not when
	// it is sent; restoring earlier turns the character into nothing (C03).
	DefaultRemapHold = 100 * time.Millisecond

	// openTimeout bounds Open: the handshake and the XTEST query.
	openTimeout = 10 * time.Second

	// restoreTimeout bounds restoring the keymap after an action, which
	// happens even when the action's context has ended.
	restoreTimeout = 5 * time.Second
)

// Options adjust an Actuator. The zero value gives the defaults.
type Options struct {
	// KeyDelay is the pause after each key press/release pair, on top of a
	// round trip to the server. Zero means DefaultKeyDelay. A negative value
	// turns the pause off and leaves only the round trip; do that only for a
	// receiver known to keep up.
	KeyDelay time.Duration

	// RemapHold is how long characters bound to spare keycodes stay bound
	// after their last key press. Zero means DefaultRemapHold; negative
	// means no wait.
	RemapHold time.Duration
}

// effective returns d, or def when d is zero, or 0 when d is negative.
func effective(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// Actuator sends synthetic input to one X screen. It is safe for concurrent
// use; actions are serialised so that their events never interleave.
type Actuator struct {
	conn      *xgb.Conn
	root      xproto.Window
	width     int
	height    int
	minKey    xproto.Keycode
	maxKey    xproto.Keycode
	keyDelay  time.Duration
	remapHold time.Duration

	mu        sync.Mutex // held for each action; guards closed
	closed    bool
	closeOnce sync.Once
}

// Open connects to display (such as ":3"; "" means $DISPLAY) with default
// options. See OpenWithOptions.
func Open(display string) (*Actuator, error) {
	return OpenWithOptions(display, Options{})
}

// OpenWithOptions connects to display and checks that it has the XTEST
// extension. It gives up after 10 s.
func OpenWithOptions(display string, opts Options) (*Actuator, error) {
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()

	conn, err := xconn.Connect(ctx, display)
	if err != nil {
		return nil, fmt.Errorf("actuate: %w", err)
	}
	if err := xconn.InitExtension(ctx, conn, xtest.Init); err != nil {
		conn.Close()
		return nil, fmt.Errorf("actuate: xtest extension: %w", err)
	}
	setup := xproto.Setup(conn)
	if conn.DefaultScreen >= len(setup.Roots) {
		conn.Close()
		return nil, fmt.Errorf("actuate: screen %d does not exist", conn.DefaultScreen)
	}
	screen := setup.DefaultScreen(conn)
	return &Actuator{
		conn:      conn,
		root:      screen.Root,
		width:     int(screen.WidthInPixels),
		height:    int(screen.HeightInPixels),
		minKey:    setup.MinKeycode,
		maxKey:    setup.MaxKeycode,
		keyDelay:  effective(opts.KeyDelay, DefaultKeyDelay),
		remapHold: effective(opts.RemapHold, DefaultRemapHold),
	}, nil
}

// KeyDelay returns the pause used after each key press/release pair.
func (a *Actuator) KeyDelay() time.Duration {
	return a.keyDelay
}

// Close closes the connection. It is idempotent; later actions return
// ErrClosed.
func (a *Actuator) Close() error {
	a.closeOnce.Do(func() {
		a.conn.Close()
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
	})
	return nil
}

// begin takes the action lock; the caller must call a.mu.Unlock.
func (a *Actuator) begin(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		a.mu.Unlock()
		return err
	}
	return nil
}

// fake sends one XTEST event: a key or button press or release (detail is
// the keycode or button), or an absolute motion to (x, y).
func (a *Actuator) fake(typ, detail byte, x, y int) {
	xtest.FakeInput(a.conn, typ, detail, 0, a.root, int16(x), int16(y), 0)
}

// sync waits until the server has processed every request sent so far and
// returns the first X error they caused. Events are drained before the round
// trip too: a queue filled by other clients' keymap changes would otherwise
// stop xgb from reading the reply.
func (a *Actuator) sync(ctx context.Context) error {
	earlier := a.drain()
	_, err := xconn.Await(ctx, func() (*xproto.GetInputFocusReply, error) {
		return xproto.GetInputFocus(a.conn).Reply()
	})
	if err != nil {
		return fmt.Errorf("actuate: round trip: %w", err)
	}
	if earlier != nil {
		return earlier
	}
	return a.drain()
}

// drain empties the event queue and returns the first X error in it. The
// server sends MappingNotify to every client after each keymap change, and
// xgb stops reading replies once 5000 events are queued.
func (a *Actuator) drain() error {
	var first error
	for {
		ev, xerr := a.conn.PollForEvent()
		switch {
		case ev == nil && xerr == nil:
			return first
		case xerr != nil && first == nil:
			first = fmt.Errorf("actuate: x error: %w", xerr)
		}
	}
}

// pace follows a key press/release pair: a round trip, then KeyDelay.
func (a *Actuator) pace(ctx context.Context) error {
	if err := a.sync(ctx); err != nil {
		return err
	}
	return sleep(ctx, a.keyDelay)
}
