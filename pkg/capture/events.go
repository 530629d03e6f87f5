package capture

import (
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/damage"
)

// readEvents reads every event until the connection closes, noting damage
// events in changes (when not nil) and dropping the rest. The server sends
// some events to every client whether it asked or not (MappingNotify after
// each keymap change, for instance), and once 5000 are queued xgb stops
// reading, replies included, which would hang the next capture. Captures
// use checked requests, so no error arrives here.
func readEvents(c *xgb.Conn, changes *Changes) {
	for {
		ev, xerr := c.WaitForEvent()
		if ev == nil && xerr == nil {
			return
		}
		if _, ok := ev.(damage.NotifyEvent); ok && changes != nil {
			changes.note(time.Now())
		}
	}
}
