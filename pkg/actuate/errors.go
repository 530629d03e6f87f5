package actuate

import (
	"errors"
	"strconv"
	"strings"
)

var (
	// ErrNoFocus is returned by Type and Key when no window can receive key
	// events: input focus is None or PointerRoot (or the root window) and
	// the pointer is over the bare root window. Click into the target first.
	ErrNoFocus = errors.New("actuate: no window has input focus")

	// ErrUnknownKey is returned by Key for a key or modifier name it does
	// not know; the error text names it.
	ErrUnknownKey = errors.New("actuate: unknown key name")

	// ErrOutOfBounds is returned by pointer actions for a point outside the
	// screen.
	ErrOutOfBounds = errors.New("actuate: point outside the screen")

	// ErrClosed is returned by actions after Close.
	ErrClosed = errors.New("actuate: actuator closed")
)

// UnsupportedCharsError is returned by Type and Key when some characters
// cannot be produced: no key on the keymap produces them and no spare
// keycode is free to bind them to, or they have no keysym at all (control
// characters other than newline and tab, invalid code points). Nothing is
// typed when it is returned.
type UnsupportedCharsError struct {
	// Chars lists each character that cannot be typed once, in order of
	// first appearance.
	Chars []rune
}

// Error names the characters, quoted.
func (e *UnsupportedCharsError) Error() string {
	quoted := make([]string, len(e.Chars))
	for i, r := range e.Chars {
		quoted[i] = strconv.QuoteRune(r)
	}
	return "actuate: cannot type characters: " + strings.Join(quoted, ", ")
}
