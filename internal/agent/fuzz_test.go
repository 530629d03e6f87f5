package agent

import (
	"errors"
	"testing"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// FuzzDecodeAssignment: whatever reaches a sandbox's assign subject is a
// valid task for that sandbox or refused as an invalid task, never a panic.
func FuzzDecodeAssignment(f *testing.F) {
	ok := messages.Assignment{Sandbox: "sb1", Attempt: 1, Task: messages.Task{ID: "t1",
		App:   messages.App{Command: []string{"xmessage", "hi"}},
		Steps: []messages.Step{{Action: messages.ActionKey, Keys: "Return"}}}}
	for _, as := range []messages.Assignment{ok, {Sandbox: "sb2", Task: ok.Task}, {Sandbox: "sb1"}} {
		if b, err := messages.Encode(as); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		as, err := decodeAssignment(data, "sb1")
		if err != nil {
			if !errors.Is(err, messages.ErrInvalidTask) {
				t.Fatalf("error without ErrInvalidTask: %v", err)
			}
			return
		}
		if as.Task.Validate() != nil || messages.CheckToken("task id", as.Task.ID) != nil {
			t.Fatalf("invalid assignment accepted: %+v", as)
		}
	})
}
