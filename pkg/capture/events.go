package capture

import (
	"github.com/jezek/xgb"
)

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
