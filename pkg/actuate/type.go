package actuate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/jezek/xgb/xproto"
)

// Type types text into the window that has keyboard focus, one paced key
// press per character, with Shift where the keymap needs it. Characters the
// keymap lacks are bound to spare keycodes for the duration of the call and
// the mapping is restored afterwards. It returns *UnsupportedCharsError,
// before typing anything, for characters it cannot produce, and ErrNoFocus
// when no window would receive the keys. Allow about 10 ms per character
// in ctx's deadline.
func (a *Actuator) Type(ctx context.Context, text string) error {
	if !utf8.ValidString(text) {
		return errors.New("actuate: text is not valid UTF-8")
	}
	if text == "" {
		return nil
	}
	if err := a.begin(ctx); err != nil {
		return err
	}
	defer a.mu.Unlock()
	s, err := a.newSession(ctx)
	if err != nil {
		return err
	}
	if bad := s.unsupported(text); len(bad) > 0 {
		return &UnsupportedCharsError{Chars: bad}
	}
	syms := make([]xproto.Keysym, 0, len(text))
	for _, r := range text {
		ks, _ := keysymForRune(r)
		syms = append(syms, ks)
	}
	return s.typeAll(ctx, syms, nil)
}

// Key presses a key combination such as "ctrl+a", "shift+Tab", "Return" or
// "F5": the modifiers (ctrl/control, shift, alt, super/meta) are held around
// the key. Names are case-insensitive; a single character stands for
// itself, so "A" is typed with Shift. It returns an error wrapping
// ErrUnknownKey that names an unknown key, and ErrNoFocus when no window
// would receive the keys.
func (a *Actuator) Key(ctx context.Context, keyCombo string) error {
	c, err := parseCombo(keyCombo)
	if err != nil {
		return err
	}
	if err := a.begin(ctx); err != nil {
		return err
	}
	defer a.mu.Unlock()
	s, err := a.newSession(ctx)
	if err != nil {
		return err
	}
	mods, err := s.modifierCodes(c.mods)
	if err != nil {
		return err
	}
	if len(mods) > 0 {
		s.lock = false // a shortcut names the unshifted key; Caps Lock must not add Shift
	}
	if !s.resolvable(c.key) && len(s.spares) == 0 {
		if c.char != 0 {
			return &UnsupportedCharsError{Chars: []rune{c.char}}
		}
		return fmt.Errorf("actuate: key %q is not on the keymap and no keycode is free", keyCombo)
	}
	return s.typeAll(ctx, []xproto.Keysym{c.key}, mods)
}

// stroke is one key to tap: its keycode and whether Shift goes with it.
type stroke struct {
	code  xproto.Keycode
	shift bool
}

// keySession holds what one Type or Key call knows about the keyboard: a
// keymap snapshot, the Shift key, Caps Lock, and spare keycodes it has bound.
type keySession struct {
	a      *Actuator
	km     *keymap
	shift  xproto.Keycode
	lock   bool                             // Caps Lock is on
	spares []xproto.Keycode                 // keycodes with no keysyms
	bound  map[xproto.Keysym]xproto.Keycode // spare keycodes bound now
}

// newSession checks focus and reads the keymap and modifier state.
func (a *Actuator) newSession(ctx context.Context) (*keySession, error) {
	if err := a.requireFocus(ctx); err != nil {
		return nil, err
	}
	km, err := loadKeymap(ctx, a.conn, a.minKey, a.maxKey)
	if err != nil {
		return nil, err
	}
	ptr, err := a.queryPointer(ctx)
	if err != nil {
		return nil, err
	}
	shift, _, ok := km.find(ksShiftL)
	if !ok {
		return nil, errors.New("actuate: no Shift_L key on the keymap")
	}
	return &keySession{
		a:      a,
		km:     km,
		shift:  shift,
		lock:   ptr.Mask&xproto.ModMaskLock != 0,
		spares: km.spares(),
		bound:  make(map[xproto.Keysym]xproto.Keycode),
	}, nil
}

// unsupported returns the characters of text that cannot be typed, each
// once: those with no keysym, and those missing from the keymap when there
// is no spare keycode to bind them to.
func (s *keySession) unsupported(text string) []rune {
	var bad []rune
	for _, r := range text {
		ks, ok := keysymForRune(r)
		if ok && (s.resolvable(ks) || len(s.spares) > 0) {
			continue
		}
		if !slices.Contains(bad, r) {
			bad = append(bad, r)
		}
	}
	return bad
}

// resolvable reports whether ks can be typed without binding a keycode.
func (s *keySession) resolvable(ks xproto.Keysym) bool {
	if _, ok := s.bound[ks]; ok {
		return true
	}
	_, _, ok := s.km.find(ks)
	return ok
}

func (s *keySession) modifierCodes(mods []xproto.Keysym) ([]xproto.Keycode, error) {
	codes := make([]xproto.Keycode, 0, len(mods))
	for _, ks := range mods {
		code, _, ok := s.km.find(ks)
		if !ok {
			return nil, fmt.Errorf("actuate: no key for modifier keysym %#x", ks)
		}
		codes = append(codes, code)
	}
	return codes, nil
}

// stroke returns how to type ks, which must be resolvable.
func (s *keySession) stroke(ks xproto.Keysym) stroke {
	if code, ok := s.bound[ks]; ok {
		return stroke{code: code} // bound with the same keysym on both levels
	}
	code, shift, _ := s.km.find(ks)
	if s.lock && s.km.isAlphabetic(code) {
		shift = !shift // Caps Lock swaps the levels of letter keys
	}
	return stroke{code: code, shift: shift}
}

// typeAll taps each keysym with mods held, binding spare keycodes in
// batches as needed, and restores the keymap before returning, even when
// typing failed or ctx ended.
func (s *keySession) typeAll(
	ctx context.Context, syms []xproto.Keysym, mods []xproto.Keycode,
) (err error) {
	defer func() {
		if rerr := s.restore(ctx); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	for i := 0; i < len(syms); {
		j, err := s.bindFrom(ctx, syms, i)
		if err != nil {
			return err
		}
		for _, ks := range syms[i:j] {
			if err := s.tap(ctx, s.stroke(ks), mods); err != nil {
				return err
			}
		}
		i = j
	}
	return nil
}

// tap presses and releases one key with mods (and Shift if needed) held,
// then paces.
func (s *keySession) tap(ctx context.Context, st stroke, mods []xproto.Keycode) error {
	held := mods
	if st.shift && !slices.Contains(mods, s.shift) {
		held = append(slices.Clone(mods), s.shift)
	}
	for _, m := range held {
		s.a.fake(xproto.KeyPress, byte(m), 0, 0)
	}
	s.a.fake(xproto.KeyPress, byte(st.code), 0, 0)
	s.a.fake(xproto.KeyRelease, byte(st.code), 0, 0)
	for i := len(held) - 1; i >= 0; i-- {
		s.a.fake(xproto.KeyRelease, byte(held[i]), 0, 0)
	}
	return s.a.pace(ctx)
}
