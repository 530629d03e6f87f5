package actuate

import (
	"context"
	"fmt"
	"slices"

	"github.com/jezek/xgb/xproto"
)

// bindFrom makes syms[i:j] typeable for the largest j it can by binding the
// keysyms the keymap lacks to free spare keycodes, and returns j > i. When
// every spare is taken and syms[i] needs one, it restores them first and
// starts a new batch.
func (s *keySession) bindFrom(ctx context.Context, syms []xproto.Keysym, i int) (int, error) {
	if !s.resolvable(syms[i]) && len(s.bound) == len(s.spares) {
		if err := s.restore(ctx); err != nil {
			return i, err
		}
	}
	free := s.freeSpares()
	var need []xproto.Keysym
	j := i
	for ; j < len(syms); j++ {
		ks := syms[j]
		if s.resolvable(ks) || slices.Contains(need, ks) {
			continue
		}
		if len(need) == len(free) {
			break
		}
		need = append(need, ks)
	}
	if j == i {
		return i, fmt.Errorf("actuate: no spare keycode for keysym %#x", syms[i])
	}
	return j, s.bind(ctx, need, free)
}

// freeSpares returns the spare keycodes not bound now, highest first.
func (s *keySession) freeSpares() []xproto.Keycode {
	var free []xproto.Keycode
	for _, code := range s.spares {
		if !s.isBound(code) {
			free = append(free, code)
		}
	}
	return free
}

func (s *keySession) isBound(code xproto.Keycode) bool {
	for _, c := range s.bound {
		if c == code {
			return true
		}
	}
	return false
}

// bind maps each keysym in need to one of the free keycodes, with the same
// keysym on the unshifted and shifted level so Shift and Caps Lock cannot
// change it, then reads the mapping back to confirm that the server applied
// it before any key on it is pressed.
func (s *keySession) bind(ctx context.Context, need []xproto.Keysym, free []xproto.Keycode) error {
	if len(need) == 0 {
		return nil
	}
	per := s.km.per
	for i, ks := range need {
		entry := make([]xproto.Keysym, per)
		entry[0] = ks
		if per > 1 {
			entry[1] = ks
		}
		xproto.ChangeKeyboardMapping(s.a.conn, 1, free[i], byte(per), entry)
		s.bound[ks] = free[i]
	}
	if err := s.a.sync(ctx); err != nil {
		return fmt.Errorf("actuate: bind spare keycodes: %w", err)
	}
	now, err := loadKeymap(ctx, s.a.conn, s.a.minKey, s.a.maxKey)
	if err != nil {
		return err
	}
	for ks, code := range s.bound {
		if got := now.entry(code)[0]; got != ks {
			return fmt.Errorf("actuate: keycode %d bound to keysym %#x reads back as %#x",
				code, ks, got)
		}
	}
	return nil
}

// restore gives the bound keycodes their original (empty) keysyms after
// holding the binding for RemapHold, so that a receiver that looks the
// keymap up late still translates the last keys with it. It runs even when
// ctx has ended, bounded by restoreTimeout.
func (s *keySession) restore(ctx context.Context) error {
	if len(s.bound) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
	defer cancel()
	_ = sleep(ctx, s.a.remapHold)

	per := s.km.per
	for ks, code := range s.bound {
		orig := slices.Clone(s.km.entry(code))
		xproto.ChangeKeyboardMapping(s.a.conn, 1, code, byte(per), orig)
		delete(s.bound, ks)
	}
	if err := s.a.sync(ctx); err != nil {
		return fmt.Errorf("actuate: restore keymap: %w", err)
	}
	return nil
}
