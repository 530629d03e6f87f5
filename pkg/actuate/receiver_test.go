package actuate_test

import (
	"context"
	"errors"
	"image"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/screenfleet/screenfleet/internal/xvfb"
)

const screenW, screenH = 640, 480

// startDisplay starts a 640×480 Xvfb for the test, or skips the test when
// Xvfb is not installed.
func startDisplay(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := xvfb.Start(ctx, screenW, screenH)
	if errors.Is(err, xvfb.ErrNotInstalled) {
		t.Skipf("skipping: needs Xvfb (apt-get install xvfb): %v", err)
	}
	if err != nil {
		t.Fatalf("start Xvfb: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop Xvfb: %v", err)
		}
	})
	return srv.Display()
}

// waitFor polls cond until it is true, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// keyEvent is a key press as the receiver saw it.
type keyEvent struct {
	keysym xproto.Keysym
	state  uint16
}

// receiver is an X client of the test's own: one unmanaged window that
// records the key and button presses it receives and decodes keys into text
// the way an Xlib client does, following keymap changes as they come.
type receiver struct {
	conn *xgb.Conn
	win  xproto.Window
	rect image.Rectangle

	mu      sync.Mutex
	km      testKeymap
	text    []rune
	keys    []keyEvent
	buttons []xproto.ButtonPressEvent
	mapped  bool
}

func newReceiver(t *testing.T, display string, rect image.Rectangle) *receiver {
	t.Helper()
	conn, err := xgb.NewConnDisplay(display)
	if err != nil {
		t.Fatalf("receiver connect: %v", err)
	}
	t.Cleanup(conn.Close)
	r := &receiver{conn: conn, rect: rect}
	if r.km, err = fetchKeymap(conn); err != nil {
		t.Fatal(err)
	}
	if err := r.createWindow(); err != nil {
		t.Fatalf("receiver window: %v", err)
	}
	go r.loop()
	waitFor(t, 5*time.Second, "receiver window to be mapped", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.mapped
	})
	return r
}

func (r *receiver) createWindow() error {
	screen := xproto.Setup(r.conn).DefaultScreen(r.conn)
	wid, err := xproto.NewWindowId(r.conn)
	if err != nil {
		return err
	}
	mask := uint32(xproto.EventMaskKeyPress | xproto.EventMaskButtonPress | xproto.EventMaskStructureNotify)
	err = xproto.CreateWindowChecked(r.conn, 0, wid, screen.Root,
		int16(r.rect.Min.X), int16(r.rect.Min.Y), uint16(r.rect.Dx()), uint16(r.rect.Dy()), 0,
		xproto.WindowClassInputOutput, 0,
		xproto.CwBackPixel|xproto.CwOverrideRedirect|xproto.CwEventMask,
		[]uint32{screen.WhitePixel, 1, mask}).Check()
	if err != nil {
		return err
	}
	r.win = wid
	return xproto.MapWindowChecked(r.conn, wid).Check()
}

// loop handles events in order, as a real client would.
func (r *receiver) loop() {
	for {
		ev, xerr := r.conn.WaitForEvent()
		if ev == nil && xerr == nil {
			return
		}
		switch e := ev.(type) {
		case xproto.MapNotifyEvent:
			r.locked(func() { r.mapped = true })
		case xproto.MappingNotifyEvent:
			if e.Request == xproto.MappingKeyboard {
				if km, err := fetchKeymap(r.conn); err == nil {
					r.locked(func() { r.km = km })
				}
			}
		case xproto.KeyPressEvent:
			r.locked(func() { r.key(e) })
		case xproto.ButtonPressEvent:
			r.locked(func() { r.buttons = append(r.buttons, e) })
		}
	}
}

func (r *receiver) locked(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn()
}

func (r *receiver) key(e xproto.KeyPressEvent) {
	ks := r.km.lookup(e.Detail, e.State)
	r.keys = append(r.keys, keyEvent{keysym: ks, state: e.State})
	if c, ok := runeOf(ks); ok {
		r.text = append(r.text, c)
	}
}

func (r *receiver) Text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.text)
}

func (r *receiver) Keys() []keyEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]keyEvent(nil), r.keys...)
}

func (r *receiver) Buttons() []xproto.ButtonPressEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]xproto.ButtonPressEvent(nil), r.buttons...)
}

// waitText waits until n characters have arrived and returns them.
func (r *receiver) waitText(t *testing.T, n int) string {
	t.Helper()
	waitFor(t, 10*time.Second, "typed text to arrive", func() bool {
		return len([]rune(r.Text())) >= n
	})
	return r.Text()
}

// testKeymap is the test's own reading of the core keymap, independent of
// the package's.
type testKeymap struct {
	min  xproto.Keycode
	per  int
	syms []xproto.Keysym
}

func fetchKeymap(c *xgb.Conn) (testKeymap, error) {
	setup := xproto.Setup(c)
	n := byte(int(setup.MaxKeycode) - int(setup.MinKeycode) + 1)
	reply, err := xproto.GetKeyboardMapping(c, setup.MinKeycode, n).Reply()
	if err != nil {
		return testKeymap{}, err
	}
	return testKeymap{min: setup.MinKeycode, per: int(reply.KeysymsPerKeycode), syms: reply.Keysyms}, nil
}

// lookup applies the core protocol rules: Shift selects the second keysym,
// a missing second keysym is the first (upper-cased for letters), and Lock
// inverts Shift for letters.
func (m testKeymap) lookup(code xproto.Keycode, state uint16) xproto.Keysym {
	i := int(code-m.min) * m.per
	plain, shifted := m.syms[i], m.syms[i+1]
	if shifted == 0 {
		if c, ok := runeOf(plain); ok && unicode.IsLetter(c) {
			plain, shifted = keysymOf(unicode.ToLower(c)), keysymOf(unicode.ToUpper(c))
		} else {
			shifted = plain
		}
	}
	shift := state&xproto.ModMaskShift != 0
	if c, ok := runeOf(plain); ok && unicode.IsLetter(c) && plain != shifted && state&xproto.ModMaskLock != 0 {
		shift = !shift
	}
	if shift {
		return shifted
	}
	return plain
}

func runeOf(ks xproto.Keysym) (rune, bool) {
	switch {
	case ks == 0xff0d:
		return '\n', true
	case ks == 0xff09:
		return '\t', true
	case ks >= 0x20 && ks <= 0x7e, ks >= 0xa0 && ks <= 0xff:
		return rune(ks), true
	case ks > 0x01000000 && ks <= 0x0110ffff:
		return rune(ks - 0x01000000), true
	}
	return 0, false
}

func keysymOf(c rune) xproto.Keysym {
	if c <= 0xff {
		return xproto.Keysym(c)
	}
	return 0x01000000 + xproto.Keysym(c)
}
