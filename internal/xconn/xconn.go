// Package xconn holds what pkg/capture and pkg/actuate both need from an X
// connection made with jezek/xgb: a context-bounded connect, context-bounded
// replies, and extension set-up serialised around xgb's package-level state.
package xconn

import (
	"context"
	"fmt"
	"io"
	"log"
	"sync"

	"github.com/jezek/xgb"
)

var (
	// quietOnce replaces xgb's logger once. xgb has only a package-level
	// logger and no per-connection setting; it prints a harmless "could not
	// get authority info" pair on every connection to an Xvfb without an
	// Xauthority file. Errors still reach callers as values.
	quietOnce sync.Once

	// extMu serialises extension set-up (shm.Init, xtest.Init): each writes
	// xgb's package-level event and error constructor maps.
	extMu sync.Mutex
)

// Connect opens an X connection to display ("" means $DISPLAY). xgb's
// handshake takes no context, so it runs in a goroutine that closes the
// connection if the handshake finishes after ctx has ended.
func Connect(ctx context.Context, display string) (*xgb.Conn, error) {
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
			return nil, fmt.Errorf("connect to display %q: %w", display, r.err)
		}
		return r.conn, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.conn != nil {
				r.conn.Close()
			}
		}()
		return nil, fmt.Errorf("connect to display %q: %w", display, ctx.Err())
	}
}

// InitExtension runs an extension's Init (shm.Init, xtest.Init) on c while
// no other extension set-up runs, bounded by ctx.
func InitExtension(ctx context.Context, c *xgb.Conn, initFn func(*xgb.Conn) error) error {
	_, err := Await(ctx, func() (struct{}, error) {
		extMu.Lock()
		defer extMu.Unlock()
		return struct{}{}, initFn(c)
	})
	return err
}

// Await runs fn, which waits for an X reply, and returns early with the
// context's error if ctx ends first. An abandoned reply is still read by fn
// in its goroutine, so the connection stays usable.
func Await[T any](ctx context.Context, fn func() (T, error)) (T, error) {
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
