package actuate

import (
	"context"
	"fmt"
	"io"
	"log"
	"sync"
	"time"

	"github.com/jezek/xgb"
)

// quietOnce replaces xgb's logger once. xgb has only a package-level logger
// and no per-connection setting; it prints a harmless "could not get
// authority info" pair on every connection to an Xvfb without an Xauthority
// file. Errors still reach callers as values.
var quietOnce sync.Once

// connect opens an X connection to display ("" means $DISPLAY). xgb's
// handshake takes no context, so it runs in a goroutine that closes the
// connection if the handshake finishes after ctx has ended.
func connect(ctx context.Context, display string) (*xgb.Conn, error) {
	quietOnce.Do(func() { xgb.Logger = log.New(io.Discard, "", 0) })

	type result struct {
		conn *xgb.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := xgb.NewConnDisplay(display)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("actuate: connect to display %q: %w", display, r.err)
		}
		return r.conn, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.conn != nil {
				r.conn.Close()
			}
		}()
		return nil, fmt.Errorf("actuate: connect to display %q: %w", display, ctx.Err())
	}
}

// await runs fn, which waits for an X reply, and returns early with the
// context's error if ctx ends first. An abandoned reply is still read by fn
// in its goroutine, so the connection stays usable.
func await[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	if ctx.Done() == nil {
		return fn()
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
