package agent

import (
	"errors"
	"testing"

	"github.com/screenfleet/screenfleet/internal/ocr"
	"github.com/screenfleet/screenfleet/internal/ocr/ocrtest"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

func line(text string) messages.Box { return messages.Box{Text: text, Level: "line", Class: "text"} }

func TestCrashPageFromBoxes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		boxes []messages.Box
		want  bool
	}{
		{"header", []messages.Box{line("Gah. Your tab just crashed.")}, true},
		{"header with OCR noise", []messages.Box{line("Gah, Your  tab just crashed,")}, true},
		{"both buttons", []messages.Box{line("Close Tab"), line("Restore This Tab")}, true},
		{"one button", []messages.Box{line("Close Tab")}, false},
		{"a word, not a line", []messages.Box{{Text: "Gah. Your tab just crashed.", Level: "word"}}, false},
		{"an ordinary page", []messages.Box{line("Sign in"), line("Close tab settings")}, false},
		{"nothing", nil, false},
	} {
		if _, got := crashPage(tc.boxes); got != tc.want {
			t.Errorf("%s: crash page %v, want %v", tc.name, got, tc.want)
		}
	}
}

// C21: Firefox ESR's own about:tabcrashed, rendered by Firefox and read by
// Tesseract as the agent's frames are, is recognised as the crash page and
// turns into a sandbox failure; the sign-in page is not.
func TestCrashPageRenderedByFirefox(t *testing.T) {
	crashed := ocrtest.ScreenshotURL(t, "about:tabcrashed", 1280, 800)
	login := ocrtest.Screenshot(t, ocrtest.LoginPage, 480, 200)
	pool, err := ocr.NewPool(1, ocr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })

	boxes, err := pool.Recognize(t.Context(), crashed)
	if err != nil {
		t.Fatal(err)
	}
	err = errIfCrashed(boxes)
	if !errors.Is(err, messages.ErrSandboxFailed) {
		t.Fatalf("crash page: error %v, want a sandbox failure; lines seen: %v", err, lines(boxes))
	}
	t.Logf("detected: %v", err)

	boxes, err = pool.Recognize(t.Context(), login)
	if err != nil {
		t.Fatal(err)
	}
	if err := errIfCrashed(boxes); err != nil {
		t.Fatalf("sign-in page taken for a crash page: %v", err)
	}
}

func lines(boxes []messages.Box) []string {
	var out []string
	for _, b := range boxes {
		if b.Level == "line" {
			out = append(out, b.Text)
		}
	}
	return out
}
