package actuate

import (
	"context"
	"fmt"

	"github.com/jezek/xgb/xproto"
)

// Button is a pointer button number as X numbers them.
type Button uint8

// Pointer buttons. Buttons 4 and 5 are the scroll wheel; use Scroll.
const (
	ButtonLeft   Button = 1
	ButtonMiddle Button = 2
	ButtonRight  Button = 3
)

// Wheel buttons: X reports one wheel step as a click of button 4 (up) or 5.
const (
	wheelUp   byte = 4
	wheelDown byte = 5
)

// MoveTo moves the pointer to (x, y) in screen coordinates.
func (a *Actuator) MoveTo(ctx context.Context, x, y int) error {
	if err := a.begin(ctx); err != nil {
		return err
	}
	defer a.mu.Unlock()
	if err := a.move(x, y); err != nil {
		return err
	}
	return a.sync(ctx)
}

// Click moves the pointer to (x, y) and clicks button there.
func (a *Actuator) Click(ctx context.Context, x, y int, button Button) error {
	if button == 0 || button > 9 {
		return fmt.Errorf("actuate: invalid button %d", button)
	}
	if err := a.begin(ctx); err != nil {
		return err
	}
	defer a.mu.Unlock()
	return a.clicks(ctx, x, y, byte(button), 1)
}

// DoubleClick moves the pointer to (x, y) and clicks the left button twice,
// KeyDelay apart, well inside any toolkit's double-click interval.
func (a *Actuator) DoubleClick(ctx context.Context, x, y int) error {
	if err := a.begin(ctx); err != nil {
		return err
	}
	defer a.mu.Unlock()
	return a.clicks(ctx, x, y, byte(ButtonLeft), 2)
}

// Scroll moves the pointer to (x, y) and turns the wheel by dy steps:
// negative scrolls up, positive down.
func (a *Actuator) Scroll(ctx context.Context, x, y, dy int) error {
	if err := a.begin(ctx); err != nil {
		return err
	}
	defer a.mu.Unlock()
	button, n := wheelDown, dy
	if dy < 0 {
		button, n = wheelUp, -dy
	}
	return a.clicks(ctx, x, y, button, n)
}

// clicks moves to (x, y) and clicks button n times, each click paced like a
// key press. With n == 0 it only moves.
func (a *Actuator) clicks(ctx context.Context, x, y int, button byte, n int) error {
	if err := a.move(x, y); err != nil {
		return err
	}
	if err := a.sync(ctx); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		a.fake(xproto.ButtonPress, button, 0, 0)
		a.fake(xproto.ButtonRelease, button, 0, 0)
		if err := a.pace(ctx); err != nil {
			return err
		}
	}
	return nil
}

// move sends an absolute motion to (x, y) after checking it is on screen.
func (a *Actuator) move(x, y int) error {
	if x < 0 || y < 0 || x >= a.width || y >= a.height {
		return fmt.Errorf("%w: (%d,%d) on a %dx%d screen", ErrOutOfBounds, x, y, a.width, a.height)
	}
	a.fake(xproto.MotionNotify, 0, x, y)
	return nil
}
