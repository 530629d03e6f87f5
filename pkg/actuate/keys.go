package actuate

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jezek/xgb/xproto"
)

// modifierKeysyms maps modifier names in a combo to the key pressed for them.
var modifierKeysyms = map[string]xproto.Keysym{
	"ctrl":    ksControlL,
	"control": ksControlL,
	"shift":   ksShiftL,
	"alt":     ksAltL,
	"super":   ksSuperL,
	"meta":    ksSuperL,
}

// namedKeysyms maps lower-cased key names (X keysym names and common
// aliases) to keysyms.
var namedKeysyms = map[string]xproto.Keysym{
	"return":    ksReturn,
	"enter":     ksReturn,
	"tab":       ksTab,
	"escape":    0xff1b,
	"esc":       0xff1b,
	"backspace": 0xff08,
	"delete":    0xffff,
	"del":       0xffff,
	"insert":    0xff63,
	"ins":       0xff63,
	"home":      0xff50,
	"end":       0xff57,
	"pageup":    0xff55,
	"page_up":   0xff55,
	"prior":     0xff55,
	"pagedown":  0xff56,
	"page_down": 0xff56,
	"next":      0xff56,
	"left":      0xff51,
	"up":        0xff52,
	"right":     0xff53,
	"down":      0xff54,
	"space":     0x20,
	"plus":      0x2b,
	"minus":     0x2d,
	"menu":      0xff67,
	"print":     0xff61,
	"pause":     0xff13,
	"caps_lock": 0xffe5,
	"capslock":  0xffe5,
	"shift_l":   ksShiftL,
	"shift_r":   0xffe2,
	"control_l": ksControlL,
	"control_r": 0xffe4,
	"alt_l":     ksAltL,
	"alt_r":     0xffea,
	"super_l":   ksSuperL,
	"super_r":   0xffec,
}

// combo is a parsed key combination: modifiers held around one key.
type combo struct {
	mods []xproto.Keysym
	key  xproto.Keysym
	char rune // the key's character, for error messages; 0 for named keys
}

// parseCombo parses "ctrl+shift+k", "Return", "F5", "ctrl++" and the like.
// Modifier and key names are case-insensitive; a single character is taken
// as it is, so "A" means Shift+a.
func parseCombo(s string) (combo, error) {
	parts, key := splitCombo(s)
	var c combo
	for _, p := range parts {
		ks, ok := modifierKeysyms[strings.ToLower(strings.TrimSpace(p))]
		if !ok {
			return combo{}, fmt.Errorf("%w: modifier %q in %q", ErrUnknownKey, p, s)
		}
		c.mods = append(c.mods, ks)
	}
	ks, char, err := keysymForName(key)
	if err != nil {
		return combo{}, fmt.Errorf("%w in %q", err, s)
	}
	c.key, c.char = ks, char
	return c, nil
}

// splitCombo splits s at '+' into modifiers and the final key, taking a
// trailing "++" (or s == "+") as the '+' key.
func splitCombo(s string) (mods []string, key string) {
	if s == "+" {
		return nil, "+"
	}
	if strings.HasSuffix(s, "++") {
		head := strings.TrimSuffix(s, "++")
		if head == "" {
			return nil, "+"
		}
		return strings.Split(head, "+"), "+"
	}
	parts := strings.Split(s, "+")
	return parts[:len(parts)-1], parts[len(parts)-1]
}

// keysymForName resolves one key: a single character, F1–F35, or a name.
func keysymForName(name string) (xproto.Keysym, rune, error) {
	if name != " " {
		name = strings.TrimSpace(name)
	}
	if r, size := utf8.DecodeRuneInString(name); size == len(name) && name != "" {
		ks, ok := keysymForRune(r)
		if !ok {
			return 0, 0, &UnsupportedCharsError{Chars: []rune{r}}
		}
		return ks, r, nil
	}
	lower := strings.ToLower(name)
	if ks, ok := namedKeysyms[lower]; ok {
		return ks, 0, nil
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(lower, "f")); err == nil &&
		strings.HasPrefix(lower, "f") && n >= 1 && n <= 35 {
		return 0xffbe + xproto.Keysym(n-1), 0, nil // F1 is 0xffbe; F1–F35 are contiguous
	}
	return 0, 0, fmt.Errorf("%w: %q", ErrUnknownKey, name)
}
