package agent

import (
	"strings"
	"unicode"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Firefox's tab crash page (about:tabcrashed), as Firefox ESR's en-US
// localisation (aboutTabCrashed.ftl in omni.ja) words it: the header
// "Gah. Your tab just crashed." above the buttons "Close Tab" and
// "Restore This Tab". Normalised by crashKey.
const (
	crashHeader  = "your tab just crashed"
	crashRestore = "restore this tab"
	crashClose   = "close tab"
)

// crashPage reports whether boxes show Firefox's tab crash page, and the
// line that gave it away. A content process that died (64 MB /dev/shm is
// enough, C21) leaves the app on this page; no step can succeed there, and
// the sandbox, not the task, is at fault. The header alone is enough; so
// are both buttons, for when OCR garbles the header.
func crashPage(boxes []messages.Box) (string, bool) {
	var restore, closeTab string
	for _, b := range boxes {
		if b.Level != "line" {
			continue
		}
		key := crashKey(b.Text)
		switch {
		case strings.Contains(key, crashHeader):
			return b.Text, true
		case strings.Contains(key, crashRestore):
			restore = b.Text
		case key == crashClose:
			closeTab = b.Text
		}
	}
	if restore != "" && closeTab != "" {
		return restore, true
	}
	return "", false
}

// crashKey lower-cases s, keeps letters and single spaces, and drops the
// rest, so OCR's stray punctuation does not hide the words.
func crashKey(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(s) {
		switch {
		case unicode.IsLetter(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		case unicode.IsSpace(r):
			space = true
		}
	}
	return b.String()
}

// errIfCrashed is the error that ends a task whose app shows the crash
// page: messages.CodeSandboxFailed, which makes the dispatcher retry the
// task in a new sandbox.
func errIfCrashed(boxes []messages.Box) error {
	line, crashed := crashPage(boxes)
	if !crashed {
		return nil
	}
	return messages.Errorf(messages.CodeSandboxFailed,
		"the app shows Firefox's tab crash page (%q): the sandbox is recycled", line)
}
