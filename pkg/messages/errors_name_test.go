package messages_test

import (
	"testing"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

func TestEveryCodeHasADistinctName(t *testing.T) {
	seen := map[string]messages.Code{}
	for _, c := range messages.Codes() {
		n := c.Name()
		if n == "unknown" || n == "" {
			t.Errorf("code %d has no name", c)
		}
		if prev, dup := seen[n]; dup {
			t.Errorf("codes %d and %d share the name %q", prev, c, n)
		}
		seen[n] = c
		if c != messages.CodeOK && messages.FromWire(c, "x") == nil {
			t.Errorf("code %d does not come back from the wire", c)
		}
	}
	if got := messages.Code(999).Name(); got != "unknown" {
		t.Errorf("Code(999).Name() = %q", got)
	}
	if len(seen) != 15 {
		t.Errorf("%d named codes, want every code of the table (15)", len(seen))
	}
}
