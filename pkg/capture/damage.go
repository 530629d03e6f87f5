package capture

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/damage"
	"github.com/jezek/xgb/xproto"

	"github.com/screenfleet/screenfleet/internal/xconn"
)

// Changes tells when the screen's pixels change, from the X DAMAGE
// extension's events on the root window (which cover every window drawn on
// it), so a caller can wait for a screen to stop changing without capturing
// it again and again. It is safe for concurrent use.
type Changes struct {
	mu    sync.Mutex
	count uint64        // damage events received
	last  time.Time     // when the last one arrived
	wake  chan struct{} // closed at the next event
}

func newChanges() *Changes { return &Changes{wake: make(chan struct{})} }

// note records one damage event arriving at now.
func (c *Changes) note(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count++
	c.last = now
	close(c.wake)
	c.wake = make(chan struct{})
}

// Last returns how many changes have been reported so far and when the last
// one arrived (zero before the first).
func (c *Changes) Last() (n uint64, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count, c.last
}

// Wait waits until a change after the n-th is reported, until deadline or
// until ctx ends. It returns the count and arrival time of the newest change
// and whether there was one after n; ctx's error only when ctx ended.
func (c *Changes) Wait(ctx context.Context, n uint64, deadline time.Time) (uint64, time.Time, bool, error) {
	for {
		c.mu.Lock()
		count, last, wake := c.count, c.last, c.wake
		c.mu.Unlock()
		if count > n {
			return count, last, true, nil
		}
		d := time.Until(deadline)
		if d <= 0 {
			return count, last, false, nil
		}
		t := time.NewTimer(d)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return count, last, false, ctx.Err()
		}
		t.Stop()
	}
}

// watchDamage asks the server for a damage event on every drawing on root.
// Raw rectangles need no acknowledgement (no DamageSubtract per event): a
// repaint costs a burst of small events, which is what is counted.
func watchDamage(ctx context.Context, conn *xgb.Conn, root xproto.Window) error {
	if err := xconn.InitExtension(ctx, conn, damage.Init); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	// The server needs the client's version before any other DAMAGE request.
	if _, err := xconn.Await(ctx, func() (*damage.QueryVersionReply, error) {
		return damage.QueryVersion(conn, 1, 1).Reply()
	}); err != nil {
		return fmt.Errorf("query version: %w", err)
	}
	id, err := damage.NewDamageId(conn)
	if err != nil {
		return fmt.Errorf("new id: %w", err)
	}
	_, err = xconn.Await(ctx, func() (struct{}, error) {
		return struct{}{}, damage.CreateChecked(conn, id, xproto.Drawable(root),
			damage.ReportLevelRawRectangles).Check()
	})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	return nil
}
