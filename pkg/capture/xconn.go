package capture

import (
	"context"
	"fmt"
	"io"
	"log"
	"sync"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/shm"
)

var (
	// quietOnce replaces xgb's logger once. xgb has only a package-level
	// logger and no per-connection setting; it prints a harmless
	// "could not get authority info" pair on every connection to an Xvfb
	// without an Xauthority file. Errors still reach callers as values.
	quietOnce sync.Once

	// shmInitMu serialises shm.Init: it writes xgb's package-level event and
	// error constructor maps, and two capturers opened concurrently would
	// otherwise write them at the same time.
	shmInitMu sync.Mutex
)

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
			return nil, fmt.Errorf("capture: connect to display %q: %w", display, r.err)
		}
		return r.conn, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.conn != nil {
				r.conn.Close()
			}
		}()
		return nil, fmt.Errorf("capture: connect to display %q: %w", display, ctx.Err())
	}
}

func initSHM(c *xgb.Conn) error {
	shmInitMu.Lock()
	defer shmInitMu.Unlock()
	return shm.Init(c)
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

// discardEvents reads and drops every event until the connection closes.
// The server sends some events to every client whether it asked or not
// (MappingNotify after each keymap change, for instance), and once 5000 are
// queued xgb stops reading, replies included, which would hang the next
// capture. Captures use checked requests, so no error arrives here.
func discardEvents(c *xgb.Conn) {
	for {
		ev, xerr := c.WaitForEvent()
		if ev == nil && xerr == nil {
			return
		}
	}
}
