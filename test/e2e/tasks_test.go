package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// taskLimit bounds one Firefox task on a 2-core machine, start-up included.
const taskLimit = 3 * time.Minute

func TestLoginTaskChangesThePage(t *testing.T) {
	t.Parallel()
	id := "e2e-login"
	submitJSON(t, exampleTask(t, "../../examples/tasks/login.json", id), id)
	st := waitFinal(t, id, taskLimit)
	requireSucceeded(t, st)
	if !shared.site.sawRequest("/welcome.html?user=alice") {
		t.Fatalf("the page never navigated to the welcome page; requests: %v", shared.site.requests)
	}
	if len(st.Steps) != st.StepCount || st.StepCount != 7 {
		t.Fatalf("step log has %d of %d steps", len(st.Steps), st.StepCount)
	}
}

func TestTypingReadsBackExactly(t *testing.T) {
	t.Parallel()
	typeAndReadBack(t, "e2e-typing", "Hello, World! 123 @#")
}

// TestTypingKeepsOrder is field case C01: with paced keys, a long run of
// characters arrives in order, every time.
func TestTypingKeepsOrder(t *testing.T) {
	t.Parallel()
	typeAndReadBack(t, "e2e-order", strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789", 10))
}

// TestTypingOffKeymapCharacters is field case C03: characters that are not on
// the US keymap are typed through a remapped keycode, never substituted.
func TestTypingOffKeymapCharacters(t *testing.T) {
	t.Parallel()
	typeAndReadBack(t, "e2e-unicode", "Spaß øøøø àéîõü /_@ Привет")
}

// submitPageTask submits task id: Firefox on the example site's page, with
// run=id in the page's query (what the page's echoes are filed under), and
// steps.
func submitPageTask(t *testing.T, id, page string, steps []map[string]any) {
	t.Helper()
	url := shared.site.URL + "/" + page + "?run=" + id
	payload, err := json.Marshal(map[string]any{"id": id,
		"app": map[string]any{"command": []string{"firefox-esr", "--kiosk", url}}, "steps": steps})
	if err != nil {
		t.Fatal(err)
	}
	submitJSON(t, payload, id)
}

// typeAndReadBack types text into the notes page's field and checks that the
// field held exactly text, and never anything that is not a prefix of it.
func typeAndReadBack(t *testing.T, id, text string) {
	t.Helper()
	query := "run=" + id
	submitPageTask(t, id, "notes.html", []map[string]any{
		{"action": "wait_for", "target": map[string]any{"text": "Nothing written"}, "timeout": "60s"},
		{"action": "click", "target": map[string]any{"right_of": "Note"}},
		{"action": "type", "text": text},
		{"action": "assert", "target": map[string]any{"text": fmt.Sprintf("%d characters written",
			len([]rune(text)))},
			"timeout": "10s"},
	})
	requireSucceeded(t, waitFinal(t, id, taskLimit))
	echoes, ok := shared.site.waitEcho(query, text, 10*time.Second)
	if !ok {
		t.Fatalf("the field never held %q; it held %q", text, echoes)
	}
	for _, e := range echoes {
		if len(e) > len(text) || !strings.HasPrefix(text, e) {
			t.Fatalf("the field held %q, which is not a prefix of %q", e, text)
		}
	}
}

func TestMissingTargetFailsWithSeenTexts(t *testing.T) {
	t.Parallel()
	id := "e2e-broken"
	submitJSON(t, exampleTask(t, "../../examples/broken/broken.json", id), id)
	st := waitFinal(t, id, taskLimit)
	if st.State != messages.StateFailed || st.Code != messages.CodeTargetNotFound {
		t.Fatalf("state %s code %d: %s", st.State, st.Code, st.Error)
	}
	if !strings.Contains(st.Error, `"Sign up"`) || !strings.Contains(st.Error, "Sign in") {
		t.Fatalf("error does not explain itself: %s", st.Error)
	}
	if !containsFold(st.Seen, "sign in") {
		t.Fatalf("seen texts do not list what was on screen: %q", st.Seen)
	}
}

func TestInvalidTaskGoesToDeadLetter(t *testing.T) {
	t.Parallel()
	id := "e2e-invalid"
	submitJSON(t, []byte(`{"id":"`+id+`","app":{"command":["firefox-esr"]},"steps":[{"action":"click"}]}`), id)
	st := waitFinal(t, id, 30*time.Second)
	if st.State != messages.StateFailed || !strings.Contains(st.Error, "steps[0].target: missing") {
		t.Fatalf("state %s: %s", st.State, st.Error)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := shared.js.Stream(ctx, "TASKS_DEAD")
	if err != nil {
		t.Fatalf("dead-letter stream: %v", err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, messages.NewSubjects("").TaskDead())
	if err != nil {
		t.Fatalf("dead letter: %v", err)
	}
	var dl messages.DeadLetter
	if err := messages.Decode(msg.Data, &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Code != messages.CodeInvalidTask || !strings.Contains(dl.Error, "steps[0].target") {
		t.Fatalf("dead letter %+v", dl)
	}
}

func TestSfctlSubmitWaitShowsProgress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	task := filepath.Join(dir, "buttons.json")
	writeFile(t, task, exampleTask(t, "../../examples/tasks/buttons.json", "e2e-sfctl-buttons"))
	cmd := exec.Command(filepath.Join(shared.bin, "sfctl"), "submit", task, "--wait", "--nats-url",
		shared.natsURL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sfctl submit --wait: %v\n%s", err, out)
	}
	for _, want := range []string{"submitted e2e-sfctl-buttons", "[1/6] wait_for", "[2/6] click", "clicked", "SUCCEEDED"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	bad := filepath.Join(dir, "invalid.json")
	writeFile(t, bad, []byte(`{"app":{"command":["x"]},"steps":[{"action":"jump"}]}`))
	out, err = exec.Command(filepath.Join(shared.bin, "sfctl"), "submit", bad, "--nats-url",
		shared.natsURL).CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out),
		`steps[0].action: unknown action "jump"`) {
		t.Fatalf("invalid task: exit %d\n%s", code, out)
	}
}
