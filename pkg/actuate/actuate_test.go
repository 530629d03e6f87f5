package actuate_test

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"image"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/screenfleet/screenfleet/pkg/actuate"
)

// receiverRect is where tests put their receiving window.
var receiverRect = image.Rect(50, 40, 350, 240)

func open(t *testing.T, display string) *actuate.Actuator {
	t.Helper()
	a, err := actuate.Open(display)
	if err != nil {
		t.Fatalf("open actuator: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// setup starts a display with a receiver window and the pointer over it,
// so that PointerRoot focus sends keys to the receiver.
func setup(t *testing.T) (*actuate.Actuator, *receiver) {
	t.Helper()
	display := startDisplay(t)
	r := newReceiver(t, display, receiverRect)
	a := open(t, display)
	if err := a.MoveTo(testContext(t), 200, 140); err != nil {
		t.Fatalf("move over receiver: %v", err)
	}
	return a, r
}

func TestMoveTo(t *testing.T) {
	display := startDisplay(t)
	a := open(t, display)
	conn, err := xgb.NewConnDisplay(display)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	root := xproto.Setup(conn).DefaultScreen(conn).Root

	for _, p := range []image.Point{{100, 200}, {0, 0}, {screenW - 1, screenH - 1}} {
		if err := a.MoveTo(testContext(t), p.X, p.Y); err != nil {
			t.Fatalf("MoveTo%v: %v", p, err)
		}
		ptr, err := xproto.QueryPointer(conn, root).Reply()
		if err != nil {
			t.Fatal(err)
		}
		if got := (image.Point{int(ptr.RootX), int(ptr.RootY)}); got != p {
			t.Errorf("pointer at %v after MoveTo%v", got, p)
		}
	}
	if err := a.MoveTo(testContext(t), screenW, 10); !errors.Is(err, actuate.ErrOutOfBounds) {
		t.Errorf("MoveTo off screen: err = %v, want ErrOutOfBounds", err)
	}
}

func TestType(t *testing.T) {
	a, r := setup(t)
	const want = "Hello, World! 123 @#"
	if err := a.Type(testContext(t), want); err != nil {
		t.Fatalf("Type: %v", err)
	}
	if got := r.waitText(t, len(want)); got != want {
		t.Fatalf("received %q, want %q", got, want)
	}
}

// TestTypeRemapsMissingCharacters types characters the US keymap lacks; they
// must arrive exactly, never replaced by look-alikes (C03).
func TestTypeRemapsMissingCharacters(t *testing.T) {
	a, r := setup(t)
	before, err := fetchKeymap(r.conn)
	if err != nil {
		t.Fatal(err)
	}
	const want = "Spaß ø\tøÅ€ Привет 中文 😀\n"
	if err := a.Type(testContext(t), want); err != nil {
		t.Fatalf("Type: %v", err)
	}
	if got := r.waitText(t, len([]rune(want))); got != want {
		t.Fatalf("received %q, want %q", got, want)
	}
	after, err := fetchKeymap(r.conn)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatal("keymap not restored after Type")
	}
}

// TestTypeKeepsOrder types a long sequence with default pacing and checks
// that it arrives in order (C01).
func TestTypeKeepsOrder(t *testing.T) {
	a, r := setup(t)
	want := strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789", 5)
	if err := a.Type(testContext(t), want); err != nil {
		t.Fatalf("Type: %v", err)
	}
	if got := r.waitText(t, len(want)); got != want {
		t.Fatalf("received %q, want %q", got, want)
	}
}

// TestTypeWithMoreMissingThanSpares needs more distinct missing characters
// than Xvfb has spare keycodes (19), so it must rebind in batches.
func TestTypeWithMoreMissingThanSpares(t *testing.T) {
	a, r := setup(t)
	var b strings.Builder
	for c := 'α'; c <= 'ω'; c++ {
		b.WriteRune(c)
	}
	want := b.String() + "x" + b.String()
	if err := a.Type(testContext(t), want); err != nil {
		t.Fatalf("Type: %v", err)
	}
	if got := r.waitText(t, len([]rune(want))); got != want {
		t.Fatalf("received %q, want %q", got, want)
	}
}

func TestTypeUnderCapsLock(t *testing.T) {
	a, r := setup(t)
	ctx := testContext(t)
	if err := a.Key(ctx, "Caps_Lock"); err != nil {
		t.Fatal(err)
	}
	const want = "aBc!"
	if err := a.Type(ctx, want); err != nil {
		t.Fatalf("Type: %v", err)
	}
	if got := r.waitText(t, len(want)); got != want {
		t.Fatalf("received %q with Caps Lock on, want %q", got, want)
	}
}

// TestUnsupportedChars takes away every spare keycode, so characters missing
// from the keymap cannot be typed: the error must name exactly those, and
// nothing may be typed.
func TestUnsupportedChars(t *testing.T) {
	a, r := setup(t)
	fillSpareKeycodes(t, r.conn)
	ctx := testContext(t)

	err := a.Type(ctx, "aß€ßx\x01")
	var uerr *actuate.UnsupportedCharsError
	if !errors.As(err, &uerr) {
		t.Fatalf("Type: err = %v, want *UnsupportedCharsError", err)
	}
	if want := []rune{'ß', '€', '\x01'}; !reflect.DeepEqual(uerr.Chars, want) {
		t.Fatalf("unsupported chars %q, want %q", uerr.Chars, want)
	}
	if err := a.Type(ctx, "z"); err != nil {
		t.Fatal(err)
	}
	if got := r.waitText(t, 1); got != "z" {
		t.Fatalf("received %q, want only the later %q", got, "z")
	}
}

// fillSpareKeycodes binds F13 to every keycode that has no keysyms.
func fillSpareKeycodes(t *testing.T, conn *xgb.Conn) {
	t.Helper()
	km, err := fetchKeymap(conn)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i*km.per < len(km.syms); i++ {
		entry := km.syms[i*km.per : (i+1)*km.per]
		if entry[0] != 0 || entry[1] != 0 || entry[2] != 0 || entry[3] != 0 {
			continue
		}
		filled := make([]xproto.Keysym, km.per)
		filled[0] = 0xffca // F13
		code := km.min + xproto.Keycode(i)
		if err := xproto.ChangeKeyboardMappingChecked(conn, 1, code, byte(km.per), filled).Check(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNoFocus(t *testing.T) {
	display := startDisplay(t)
	a := open(t, display)
	ctx := testContext(t)
	if err := a.MoveTo(ctx, 5, 5); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.Focused(ctx); err != nil || ok {
		t.Fatalf("Focused() over the bare root = %v, %v; want false", ok, err)
	}
	if err := a.Type(ctx, "hello"); !errors.Is(err, actuate.ErrNoFocus) {
		t.Fatalf("Type with nothing focused: err = %v, want ErrNoFocus", err)
	}
	if err := a.Key(ctx, "Return"); !errors.Is(err, actuate.ErrNoFocus) {
		t.Fatalf("Key with nothing focused: err = %v, want ErrNoFocus", err)
	}

	r := newReceiver(t, display, receiverRect)
	if err := a.MoveTo(ctx, 100, 100); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.Focused(ctx); err != nil || !ok {
		t.Fatalf("Focused() over a window = %v, %v; want true", ok, err)
	}

	// Focus None discards keys even with the pointer over a window.
	if err := xproto.SetInputFocusChecked(r.conn, xproto.InputFocusNone, xproto.InputFocusNone,
		0).Check(); err != nil {
		t.Fatal(err)
	}
	if err := a.Type(ctx, "hello"); !errors.Is(err, actuate.ErrNoFocus) {
		t.Fatalf("Type with focus None: err = %v, want ErrNoFocus", err)
	}

	// Explicit focus on the window works wherever the pointer is.
	if err := xproto.SetInputFocusChecked(r.conn, xproto.InputFocusNone, r.win, 0).Check(); err != nil {
		t.Fatal(err)
	}
	if err := a.MoveTo(ctx, 600, 400); err != nil {
		t.Fatal(err)
	}
	if err := a.Type(ctx, "ok"); err != nil {
		t.Fatalf("Type with focus on the window: %v", err)
	}
	if got := r.waitText(t, 2); got != "ok" {
		t.Fatalf("received %q, want %q", got, "ok")
	}
}

func TestKey(t *testing.T) {
	a, r := setup(t)
	ctx := testContext(t)
	tests := []struct {
		combo  string
		keysym xproto.Keysym
		state  uint16
	}{
		{"ctrl+a", 'a', xproto.ModMaskControl},
		{"Return", 0xff0d, 0},
		{"enter", 0xff0d, 0},
		{"shift+Tab", 0xfe20, xproto.ModMaskShift}, // ISO_Left_Tab is Tab's shifted level
		{"ctrl+shift+k", 'K', xproto.ModMaskControl | xproto.ModMaskShift},
		{"Escape", 0xff1b, 0},
		{"BackSpace", 0xff08, 0},
		{"F5", 0xffc2, 0},
		{"Page_Down", 0xff56, 0},
		{"A", 'A', xproto.ModMaskShift},
		{"ctrl++", '+', xproto.ModMaskControl | xproto.ModMaskShift},
		{"alt+ø", 0xf8, xproto.ModMask1},
	}
	for i, tc := range tests {
		if err := a.Key(ctx, tc.combo); err != nil {
			t.Fatalf("Key(%q): %v", tc.combo, err)
		}
		var got keyEvent
		waitFor(t, 5*time.Second, "key "+tc.combo, func() bool {
			got = nonModifier(r.Keys(), i)
			return got.keysym != 0
		})
		if got.keysym != tc.keysym || got.state != tc.state {
			t.Errorf("Key(%q) arrived as keysym %#x state %#x, want %#x state %#x",
				tc.combo, got.keysym, got.state, tc.keysym, tc.state)
		}
	}
}

// nonModifier returns the i-th key event that is not a modifier key.
func nonModifier(keys []keyEvent, i int) keyEvent {
	for _, k := range keys {
		if k.keysym >= 0xffe1 && k.keysym <= 0xffee {
			continue
		}
		if i == 0 {
			return k
		}
		i--
	}
	return keyEvent{}
}

func TestKeyErrors(t *testing.T) {
	a, _ := setup(t)
	ctx := testContext(t)
	for _, combo := range []string{"ctrl+nosuchkey", "hyper+a", "", "ctrl+"} {
		err := a.Key(ctx, combo)
		if !errors.Is(err, actuate.ErrUnknownKey) {
			t.Errorf("Key(%q): err = %v, want ErrUnknownKey", combo, err)
		}
	}
	if err := a.Key(ctx, "ctrl+nosuchkey"); err == nil || !strings.Contains(err.Error(), "nosuchkey") {
		t.Errorf("error %v does not name the key", err)
	}
}

func TestClick(t *testing.T) {
	a, r := setup(t)
	ctx := testContext(t)
	if err := a.Click(ctx, 120, 80, actuate.ButtonRight); err != nil {
		t.Fatalf("Click: %v", err)
	}
	waitFor(t, 5*time.Second, "button press", func() bool { return len(r.Buttons()) == 1 })
	b := r.Buttons()[0]
	if b.Detail != 3 || b.RootX != 120 || b.RootY != 80 ||
		int(b.EventX) != 120-receiverRect.Min.X || int(b.EventY) != 80-receiverRect.Min.Y {
		t.Errorf("button press: button %d at root (%d,%d), window (%d,%d)",
			b.Detail, b.RootX, b.RootY, b.EventX, b.EventY)
	}

	if err := a.DoubleClick(ctx, 60, 50); err != nil {
		t.Fatalf("DoubleClick: %v", err)
	}
	if err := a.Scroll(ctx, 60, 50, -3); err != nil {
		t.Fatalf("Scroll: %v", err)
	}
	if err := a.Scroll(ctx, 60, 50, 2); err != nil {
		t.Fatalf("Scroll: %v", err)
	}
	waitFor(t, 5*time.Second, "all button presses", func() bool { return len(r.Buttons()) == 8 })
	var got []byte
	for _, b := range r.Buttons()[1:] {
		got = append(got, byte(b.Detail))
	}
	if want := []byte{1, 1, 4, 4, 4, 5, 5}; !reflect.DeepEqual(got, want) {
		t.Errorf("buttons %v, want %v", got, want)
	}
}

func TestClosed(t *testing.T) {
	a := open(t, startDisplay(t))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.MoveTo(testContext(t), 1, 1); !errors.Is(err, actuate.ErrClosed) {
		t.Fatalf("MoveTo after Close: err = %v, want ErrClosed", err)
	}
}

func TestDefaultKeyDelayIsNotZero(t *testing.T) {
	a := open(t, startDisplay(t))
	if a.KeyDelay() <= 0 {
		t.Fatalf("default KeyDelay = %v, want > 0", a.KeyDelay())
	}
}

// TestNoSendEvent holds the rule that input goes through XTEST only: events
// sent with SendEvent are marked synthetic and many applications drop them
// (C04).
func TestNoSendEvent(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && strings.HasPrefix(sel.Sel.Name, "SendEvent") {
				t.Errorf("%s: uses %s; send input with xtest.FakeInput", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}
