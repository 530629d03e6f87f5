package actuate

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jezek/xgb/xproto"
)

func TestEffectiveDelays(t *testing.T) {
	tests := []struct {
		set, want time.Duration
	}{
		{0, DefaultKeyDelay},
		{-1, 0},
		{3 * time.Millisecond, 3 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := effective(tc.set, DefaultKeyDelay); got != tc.want {
			t.Errorf("effective(%v) = %v, want %v", tc.set, got, tc.want)
		}
	}
	if DefaultKeyDelay <= 0 || effective(Options{}.KeyDelay, DefaultKeyDelay) <= 0 {
		t.Fatal("the default key delay must not be 0 (C01)")
	}
}

func TestParseCombo(t *testing.T) {
	tests := []struct {
		in   string
		mods []xproto.Keysym
		key  xproto.Keysym
	}{
		{"ctrl+a", []xproto.Keysym{ksControlL}, 'a'},
		{"Control+A", []xproto.Keysym{ksControlL}, 'A'},
		{"ctrl+shift+k", []xproto.Keysym{ksControlL, ksShiftL}, 'k'},
		{"shift+Tab", []xproto.Keysym{ksShiftL}, ksTab},
		{"alt+F4", []xproto.Keysym{ksAltL}, 0xffc1},
		{"super+space", []xproto.Keysym{ksSuperL}, ' '},
		{"meta+x", []xproto.Keysym{ksSuperL}, 'x'},
		{"Return", nil, ksReturn},
		{"ENTER", nil, ksReturn},
		{"esc", nil, 0xff1b},
		{"BackSpace", nil, 0xff08},
		{"pageup", nil, 0xff55},
		{"Page_Down", nil, 0xff56},
		{"F12", nil, 0xffc9},
		{"+", nil, '+'},
		{"ctrl++", []xproto.Keysym{ksControlL}, '+'},
		{"ctrl + c", []xproto.Keysym{ksControlL}, 'c'},
		{"ß", nil, 0xdf},
		{"€", nil, 0x010020ac},
	}
	for _, tc := range tests {
		c, err := parseCombo(tc.in)
		if err != nil {
			t.Errorf("parseCombo(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(c.mods, tc.mods) || c.key != tc.key {
			t.Errorf("parseCombo(%q) = %#x + %#x, want %#x + %#x", tc.in, c.mods, c.key, tc.mods, tc.key)
		}
	}
}

func TestParseComboErrors(t *testing.T) {
	for _, in := range []string{"", "ctrl+", "foo", "hyper+a", "F0", "F36", "ctrl+fx"} {
		if _, err := parseCombo(in); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("parseCombo(%q): err = %v, want ErrUnknownKey", in, err)
		}
	}
}

func TestKeysymForRune(t *testing.T) {
	tests := []struct {
		r  rune
		ks xproto.Keysym
		ok bool
	}{
		{'a', 0x61, true},
		{'ß', 0xdf, true},
		{'\n', ksReturn, true},
		{'\t', ksTab, true},
		{'€', 0x010020ac, true},
		{'😀', 0x0101f600, true},
		{'\r', 0, false},
		{0x7f, 0, false},
		{0x85, 0, false},
		{0xfffd, 0, false},
	}
	for _, tc := range tests {
		ks, ok := keysymForRune(tc.r)
		if ks != tc.ks || ok != tc.ok {
			t.Errorf("keysymForRune(%q) = %#x, %v; want %#x, %v", tc.r, ks, ok, tc.ks, tc.ok)
		}
	}
}

func TestKeymapLevels(t *testing.T) {
	km := &keymap{min: 8, per: 2, syms: []xproto.Keysym{
		'a', 'A', // 8: both levels given
		'b', 0, // 9: letter, shifted level implied
		'1', '!', // 10
		'-', 0, // 11: symbol, same on both levels
		0, 0, // 12: spare
	}}
	checks := []struct {
		ks    xproto.Keysym
		code  xproto.Keycode
		shift bool
	}{
		{'a', 8, false}, {'A', 8, true}, {'B', 9, true}, {'!', 10, true}, {'-', 11, false},
	}
	for _, c := range checks {
		code, shift, ok := km.find(c.ks)
		if !ok || code != c.code || shift != c.shift {
			t.Errorf("find(%q) = %d, %v, %v; want %d, %v", rune(c.ks), code, shift, ok, c.code, c.shift)
		}
	}
	if _, _, ok := km.find('z'); ok {
		t.Error("found 'z' on a keymap without it")
	}
	if got := km.spares(); !reflect.DeepEqual(got, []xproto.Keycode{12}) {
		t.Errorf("spares = %v, want [12]", got)
	}
	if !km.isAlphabetic(9) || km.isAlphabetic(10) {
		t.Error("isAlphabetic wrong for letter or digit key")
	}
}
