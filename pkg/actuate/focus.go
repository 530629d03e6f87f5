package actuate

import (
	"context"
	"fmt"

	"github.com/jezek/xgb/xproto"

	"github.com/screenfleet/screenfleet/internal/xconn"
)

// Focused reports whether key events would reach a window: input focus is
// on a window other than the root, or focus follows the pointer
// (PointerRoot or the root window; PointerRoot is the state of an Xvfb
// without a window manager) and the pointer is over a window other than the
// root. With focus None the server discards key events, so it reports false.
func (a *Actuator) Focused(ctx context.Context) (bool, error) {
	if err := a.begin(ctx); err != nil {
		return false, err
	}
	defer a.mu.Unlock()
	return a.focused(ctx)
}

func (a *Actuator) focused(ctx context.Context) (bool, error) {
	focus, err := xconn.Await(ctx, func() (*xproto.GetInputFocusReply, error) {
		return xproto.GetInputFocus(a.conn).Reply()
	})
	if err != nil {
		return false, fmt.Errorf("actuate: get input focus: %w", err)
	}
	switch focus.Focus {
	case xproto.InputFocusNone:
		return false, nil
	case xproto.InputFocusPointerRoot, a.root:
	default:
		return true, nil
	}
	ptr, err := a.queryPointer(ctx)
	if err != nil {
		return false, err
	}
	return ptr.SameScreen && ptr.Child != xproto.WindowNone, nil
}

// requireFocus returns ErrNoFocus when no window would receive key events.
func (a *Actuator) requireFocus(ctx context.Context) error {
	ok, err := a.focused(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNoFocus
	}
	return nil
}

func (a *Actuator) queryPointer(ctx context.Context) (*xproto.QueryPointerReply, error) {
	ptr, err := xconn.Await(ctx, func() (*xproto.QueryPointerReply, error) {
		return xproto.QueryPointer(a.conn, a.root).Reply()
	})
	if err != nil {
		return nil, fmt.Errorf("actuate: query pointer: %w", err)
	}
	return ptr, nil
}
