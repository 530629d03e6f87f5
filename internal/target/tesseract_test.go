package target

import (
	"testing"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// TestRecordedTesseract runs the example tasks' targets on what Tesseract
// 5.3 (PSM 3) read from Firefox ESR showing examples/site at 1280x800, and
// checks that the point acted on lies inside the widget meant, as measured
// on the same screenshots.
func TestRecordedTesseract(t *testing.T) {
	userField := rect{264, 125, 408, 49}
	tests := []struct {
		fixture string
		target  messages.Target
		inside  rect
	}{
		{"login_tesseract", messages.Target{Text: "Sign in"}, rect{64, 283, 142, 53}},
		{"login_tesseract", messages.Target{Text: "Cancel"}, rect{242, 283, 141, 53}},
		{"login_tesseract", messages.Target{RightOf: "User name"}, userField},
		{"login_tesseract", messages.Target{RightOf: "Password"}, rect{264, 204, 408, 49}},
		{"login_tesseract", messages.Target{Text: "required"}, userField},
		{"login_tesseract", messages.Target{Text: "required", Index: 1}, rect{264, 204, 408, 49}},
		{"login_tesseract", messages.Target{Text: "required", Below: "required"}, rect{264, 204, 408, 49}},
		{"notes_tesseract", messages.Target{RightOf: "Note"}, rect{264, 125, 408, 107}},
		{"buttons_tesseract", messages.Target{Text: "Green"}, rect{206, 125, 132, 53}},
		{"buttons_tesseract", messages.Target{Text: "blue"}, rect{374, 125, 113, 53}},
		{"buttons_tesseract", messages.Target{RightOf: "Red"}, rect{206, 125, 132, 53}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture+" "+tt.target.String(), func(t *testing.T) {
			box, err := Select(fixture(t, tt.fixture), &tt.target)
			if err != nil {
				t.Fatal(err)
			}
			x, y := Point(box, &tt.target)
			r := tt.inside
			if x < r.x || x >= r.x+r.w || y < r.y || y >= r.y+r.h {
				t.Errorf("acts at (%d,%d) on %q, outside the widget %v", x, y, box.Text, r)
			}
		})
	}
}
