package actuate

import (
	"context"
	"fmt"
	"unicode"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/screenfleet/screenfleet/internal/xconn"
)

// Keysyms used by name in this package.
const (
	ksNoSymbol  xproto.Keysym = 0
	ksReturn    xproto.Keysym = 0xff0d
	ksTab       xproto.Keysym = 0xff09
	ksShiftL    xproto.Keysym = 0xffe1
	ksControlL  xproto.Keysym = 0xffe3
	ksAltL      xproto.Keysym = 0xffe9
	ksSuperL    xproto.Keysym = 0xffeb
	unicodeBase xproto.Keysym = 0x01000000 // keysym of code point c is unicodeBase+c
)

// keysymForRune returns the keysym that produces r: '\n' and '\t' are
// Return and Tab, printable Latin-1 characters are their own keysym, and
// every other character is 0x01000000 plus its code point. It reports false
// for characters no key produces (other control characters, invalid runes).
func keysymForRune(r rune) (xproto.Keysym, bool) {
	switch {
	case r == '\n':
		return ksReturn, true
	case r == '\t':
		return ksTab, true
	case r < 0x20, r >= 0x7f && r < 0xa0, r == unicode.ReplacementChar,
		r > unicode.MaxRune, r >= 0xd800 && r <= 0xdfff:
		return 0, false
	case r <= 0xff:
		return xproto.Keysym(r), true
	default:
		return unicodeBase + xproto.Keysym(r), true
	}
}

// runeForKeysym is the inverse of keysymForRune for printable keysyms.
func runeForKeysym(ks xproto.Keysym) (rune, bool) {
	switch {
	case ks == ksReturn:
		return '\n', true
	case ks == ksTab:
		return '\t', true
	case ks >= 0x20 && ks <= 0x7e, ks >= 0xa0 && ks <= 0xff:
		return rune(ks), true
	case ks > unicodeBase && ks <= unicodeBase+unicode.MaxRune:
		return rune(ks - unicodeBase), true
	}
	return 0, false
}

// keymap is a snapshot of the server's core keyboard mapping.
type keymap struct {
	min  xproto.Keycode
	per  int             // keysyms per keycode
	syms []xproto.Keysym // per entries for each keycode from min
}

func loadKeymap(ctx context.Context, c *xgb.Conn, minKC, maxKC xproto.Keycode) (*keymap, error) {
	count := byte(int(maxKC) - int(minKC) + 1)
	reply, err := xconn.Await(ctx, func() (*xproto.GetKeyboardMappingReply, error) {
		return xproto.GetKeyboardMapping(c, minKC, count).Reply()
	})
	if err != nil {
		return nil, fmt.Errorf("actuate: get keyboard mapping: %w", err)
	}
	return &keymap{min: minKC, per: int(reply.KeysymsPerKeycode), syms: reply.Keysyms}, nil
}

// entry returns the keysyms of keycode k.
func (m *keymap) entry(k xproto.Keycode) []xproto.Keysym {
	i := int(k-m.min) * m.per
	return m.syms[i : i+m.per]
}

func (m *keymap) keycodes() int {
	if m.per == 0 {
		return 0
	}
	return len(m.syms) / m.per
}

// levels returns the unshifted and shifted keysyms of keycode k in group 1,
// filled in by the core protocol's rules: a missing shifted keysym is the
// unshifted one, upper-cased for letters.
func (m *keymap) levels(k xproto.Keycode) (plain, shifted xproto.Keysym) {
	e := m.entry(k)
	if m.per > 0 {
		plain = e[0]
	}
	if m.per > 1 {
		shifted = e[1]
	}
	if shifted == ksNoSymbol {
		lower, upper := convertCase(plain)
		plain, shifted = lower, upper
	}
	return plain, shifted
}

// convertCase returns the lower- and upper-case forms of a character keysym
// (both ks when it has no case).
func convertCase(ks xproto.Keysym) (lower, upper xproto.Keysym) {
	r, ok := runeForKeysym(ks)
	if !ok {
		return ks, ks
	}
	l, _ := keysymForRune(unicode.ToLower(r))
	u, _ := keysymForRune(unicode.ToUpper(r))
	return l, u
}

// isAlphabetic reports whether keycode k is a letter key, one whose levels
// are a lower/upper case pair. Caps Lock inverts Shift on such keys only.
func (m *keymap) isAlphabetic(k xproto.Keycode) bool {
	plain, shifted := m.levels(k)
	lower, upper := convertCase(plain)
	return plain != shifted && lower == plain && upper == shifted
}

// find returns a keycode producing ks and whether Shift is needed,
// preferring keys that need no Shift.
func (m *keymap) find(ks xproto.Keysym) (code xproto.Keycode, shift, ok bool) {
	if ks == ksNoSymbol {
		return 0, false, false
	}
	for _, wantShift := range []bool{false, true} {
		for i := 0; i < m.keycodes(); i++ {
			k := m.min + xproto.Keycode(i)
			plain, shifted := m.levels(k)
			if (!wantShift && plain == ks) || (wantShift && shifted == ks) {
				return k, wantShift, true
			}
		}
	}
	return 0, false, false
}

// spares returns keycodes with no keysyms at all, highest first: the low
// ones (keycode 8 in particular) are treated specially by some toolkits.
func (m *keymap) spares() []xproto.Keycode {
	var out []xproto.Keycode
	for i := m.keycodes() - 1; i >= 0; i-- {
		k := m.min + xproto.Keycode(i)
		if isEmpty(m.entry(k)) {
			out = append(out, k)
		}
	}
	return out
}

func isEmpty(syms []xproto.Keysym) bool {
	for _, s := range syms {
		if s != ksNoSymbol {
			return false
		}
	}
	return true
}
