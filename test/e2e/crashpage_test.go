package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// C21 end to end: Firefox showing its tab crash page (about:tabcrashed, the
// page a content process that died leaves) is recognised by the agent from
// OCR while the step waits for its target, well before the step's timeout;
// each attempt's sandbox is recycled, and the task fails with a sandbox
// failure that says why once the attempts run out. (Crashing a real
// tab with a 64 MB /dev/shm was too slow and unreliable on 2 cores.)
func TestCrashPageRecyclesTheSandbox(t *testing.T) {
	t.Parallel()
	id := "e2e-crashpage"
	payload, err := json.Marshal(map[string]any{"id": id,
		"app": map[string]any{"command": []string{"firefox-esr", "--kiosk", "about:tabcrashed"}},
		"steps": []map[string]any{
			{"action": "wait_for", "target": map[string]any{"text": "Sign in"}, "timeout": "60s"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	submitJSON(t, payload, id)
	st := waitFinal(t, id, taskLimit)
	if st.State != messages.StateFailed || st.Code != messages.CodeSandboxFailed ||
		!strings.Contains(st.Error, "tab crash page") {
		t.Fatalf("state %s code %d: %s", st.State, st.Code, st.Error)
	}
	if st.Attempt < 2 {
		t.Fatalf("failed at attempt %d: the crashed sandbox was not replaced", st.Attempt)
	}
	t.Logf("after %d attempts: %s", st.Attempt, st.Error)
}
