package target

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// fixture loads recorded detections from testdata/<name>.json.
func fixture(t testing.TB, name string) []messages.Box {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var boxes []messages.Box
	if err := json.Unmarshal(data, &boxes); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return boxes
}

type rect struct{ x, y, w, h int }

func TestSelect(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		target  messages.Target
		text    string // the chosen box's text
		box     rect
	}{
		{"exact phrase inside a line", "signin", messages.Target{Text: "Sign in"}, "Sign in", rect{580, 422, 62, 18}},
		{"case and spaces", "signin", messages.Target{Text: "  sign   IN "}, "Sign in", rect{580, 422, 62, 18}},
		{"contains keeps the tightest", "signin", messages.Target{Text: "sig", Match: messages.MatchContains}, "Sign", rect{580, 422, 40, 18}},
		{"regex keeps the tightest", "signin", messages.Target{Text: `sign\s+in`, Match: messages.MatchRegex}, "Sign in", rect{580, 422, 62, 18}},
		{"phrase equal to its line", "signin", messages.Target{Text: "Screenfleet demo"}, "Screenfleet demo", rect{520, 120, 222, 26}},
		{"first of two in reading order", "signin", messages.Target{Text: "user name"}, "User name", rect{400, 302, 98, 18}},
		{"index picks the second", "signin", messages.Target{Text: "name", Index: 1}, "name", rect{652, 302, 48, 18}},
		{"region", "signin", messages.Target{Text: "name", Region: &messages.Rect{X: 550, Y: 280, W: 300, H: 40}}, "name", rect{652, 302, 48, 18}},
		{"trailing punctuation ignored", "signin", messages.Target{Text: "Password", Index: 2}, "password?", rect{654, 480, 78, 14}},
		{"placeholder right of label", "signin", messages.Target{RightOf: "User name"}, "Your", rect{562, 303, 40, 18}},
		{"placeholder right of password", "signin", messages.Target{RightOf: "Password"}, "Your", rect{562, 363, 40, 18}},
		{"below needs horizontal overlap", "signin", messages.Target{Below: "User name"}, "Password", rect{400, 362, 84, 18}},
		{"text and anchor", "signin", messages.Target{Text: "Sign in", LeftOf: "Cancel"}, "Sign in", rect{580, 422, 62, 18}},
		{"anchor only left", "signin", messages.Target{LeftOf: "Cancel"}, "in", rect{626, 422, 16, 18}},
		{"near by centre distance", "signin", messages.Target{Near: "Cancel"}, "password?", rect{654, 480, 78, 14}},
		{"whole placeholder", "signin", messages.Target{Text: "Your user name"}, "Your user name", rect{562, 302, 138, 19}},

		{"class only", "buttons", messages.Target{Class: "button"}, "", rect{400, 300, 120, 40}},
		{"class index", "buttons", messages.Target{Class: "BUTTON", Index: 2}, "", rect{720, 300, 120, 40}},
		{"text in a button selects the button", "buttons", messages.Target{Text: "Green", Class: "button"}, "Green", rect{560, 300, 120, 40}},
		{"text alone selects the word", "buttons", messages.Target{Text: "Green"}, "Green", rect{595, 311, 50, 18}},
		{"class text", "buttons", messages.Target{Text: "Green", Class: "text"}, "Green", rect{595, 311, 50, 18}},
		{"class right of text", "buttons", messages.Target{Class: "button", RightOf: "Red"}, "", rect{560, 300, 120, 40}},
		{"input below", "buttons", messages.Target{Class: "input", Below: "Red"}, "", rect{400, 380, 440, 36}},
		{"anchor only prefers the element", "buttons", messages.Target{Below: "Pick a colour"}, "", rect{400, 300, 120, 40}},
		{"colon inside phrase", "buttons", messages.Target{Text: "selected: none"}, "Selected: none", rect{400, 460, 140, 18}},

		{"repeated text by index", "list", messages.Target{Text: "Delete", Index: 2}, "Delete", rect{760, 280, 50, 16}},
		{"repeated text by row", "list", messages.Target{Text: "Delete", RightOf: "bob"}, "Delete", rect{760, 240, 50, 16}},
		{"below in a column", "list", messages.Target{Text: "bob", Below: "alice"}, "bob", rect{300, 240, 30, 16}},
		{"near the row", "list", messages.Target{Text: "Edit", Near: "carol"}, "Edit", rect{700, 280, 30, 16}},

		{"rows without line numbers", "nolines", messages.Target{Text: "alice Edit"}, "alice Edit", rect{300, 200, 430, 16}},
		{"index without line numbers", "nolines", messages.Target{Text: "Delete", Index: 1}, "Delete", rect{760, 240, 50, 16}},

		{"OCR punctuation", "welcome", messages.Target{Text: "Welcome, alice"}, "Welcome, alice!", rect{540, 200, 168, 24}},
		{"target punctuation", "welcome", messages.Target{Text: "welcome, ALICE!"}, "Welcome, alice!", rect{540, 200, 168, 24}},
		{"top right first", "welcome", messages.Target{Text: "sign out"}, "Sign out", rect{1150, 20, 66, 16}},
		{"contains tightest phrase", "welcome", messages.Target{Text: "new messages", Match: messages.MatchContains}, "new messages.", rect{633, 260, 115, 16}},
		{"regex digits", "welcome", messages.Target{Text: `\d+ new`, Match: messages.MatchRegex}, "3 new", rect{618, 260, 45, 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Select(fixture(t, tt.fixture), &tt.target)
			if err != nil {
				t.Fatalf("Select(%s): %v", tt.target.String(), err)
			}
			if got.Text != tt.text || (rect{got.X, got.Y, got.W, got.H}) != tt.box {
				t.Errorf("Select(%s) = %q %v, want %q %v", tt.target.String(), got.Text,
					rect{got.X, got.Y, got.W, got.H}, tt.text, tt.box)
			}
		})
	}
}

func TestSelectNotFound(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		target  messages.Target
		want    string // the error's message, or its beginning when it ends in "..."
	}{
		{"typo lists the closest", "signin", messages.Target{Text: "Sing in"},
			`no box matches text "Sing in"; closest seen: "Sign in", ...`},
		{"no such class", "signin", messages.Target{Class: "button"}, `no box matches class button`},
		{"missing anchor", "signin", messages.Target{RightOf: "User nme"},
			`no box matches right_of "User nme": anchor "User nme" not found; closest seen: "User name", ...`},
		{"nothing in the direction", "signin", messages.Target{Text: "Cancel", RightOf: "Forgot"},
			`no box matches text "Cancel", right_of "Forgot": nothing right_of "Forgot"; closest seen: "Cancel", ...`},
		{"index past the end", "list", messages.Target{Text: "Edit", Index: 5},
			`no box matches text "Edit", index 5: only 3 match`},
		{"above is strict", "list", messages.Target{Text: "carol", Above: "bob"},
			`no box matches text "carol", above "bob": nothing above "bob"; closest seen: "carol", ...`},
		{"phrases stay in their row", "nolines", messages.Target{Text: "Delete bob"},
			`no box matches text "Delete bob"; closest seen: ...`},
		{"inner punctuation counts", "welcome", messages.Target{Text: "Welcome alice"},
			`no box matches text "Welcome alice"; closest seen: "Welcome, alice!", ...`},
		{"empty screen", "", messages.Target{Text: "Sign in"}, `no box matches text "Sign in"`},
		{"one name per spot", "login_tesseract", messages.Target{Text: "Sign up"},
			`no box matches text "Sign up"; closest seen: "Sign in", "User name", "Password required", "Cancel", "Example portal"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var boxes []messages.Box
			if tt.fixture != "" {
				boxes = fixture(t, tt.fixture)
			}
			_, err := Select(boxes, &tt.target)
			if !errors.Is(err, messages.ErrTargetNotFound) {
				t.Fatalf("Select(%s) error = %v, want ErrTargetNotFound", tt.target.String(), err)
			}
			if messages.CodeOf(err) != messages.CodeTargetNotFound {
				t.Errorf("CodeOf = %d, want %d", messages.CodeOf(err), messages.CodeTargetNotFound)
			}
			want, prefix := strings.CutSuffix(tt.want, "...")
			if got := err.Error(); (prefix && !strings.HasPrefix(got, want)) || (!prefix && got != want) {
				t.Errorf("error = %q\nwant    %q", got, tt.want)
			}
		})
	}
}

func TestClosestIsBounded(t *testing.T) {
	_, err := Select(fixture(t, "signin"), &messages.Target{Text: "pasword"})
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("error = %v, want *NotFoundError", err)
	}
	if len(nf.Closest) == 0 || len(nf.Closest) > maxClosest {
		t.Fatalf("Closest = %q, want 1..%d texts", nf.Closest, maxClosest)
	}
	if nf.Closest[0] != "Password" {
		t.Errorf("Closest[0] = %q, want the first of the equally close in reading order", nf.Closest[0])
	}
}

func TestMatches(t *testing.T) {
	tests := []struct {
		fixture string
		target  messages.Target
		want    []string
	}{
		{"signin", messages.Target{Text: "password", Match: messages.MatchContains},
			[]string{"Password", "password", "password?"}},
		{"signin", messages.Target{Text: "Sign in"}, []string{"Sign in"}},
		{"signin", messages.Target{RightOf: "User name"}, []string{"Your", "user", "name"}},
		{"list", messages.Target{Text: "Delete"}, []string{"Delete", "Delete", "Delete"}},
		{"buttons", messages.Target{Text: "e", Match: messages.MatchContains},
			[]string{"Red", "Green", "Blue", "Selected:", "none"}},
	}
	for _, tt := range tests {
		t.Run(tt.target.String(), func(t *testing.T) {
			got, err := Matches(fixture(t, tt.fixture), &tt.target)
			if err != nil {
				t.Fatal(err)
			}
			var texts []string
			for _, b := range got {
				texts = append(texts, b.Text)
			}
			if !reflect.DeepEqual(texts, tt.want) {
				t.Errorf("Matches(%s) = %q, want %q", tt.target.String(), texts, tt.want)
			}
		})
	}
}

func TestInvalidTarget(t *testing.T) {
	boxes := fixture(t, "signin")
	for _, tgt := range []*messages.Target{nil, {Text: "(", Match: messages.MatchRegex}, {Text: "x",
		Match: "fuzzy"},
		{Text: "Sign in", Index: -1}} {
		if _, err := Select(boxes, tgt); !errors.Is(err, messages.ErrInvalidTask) {
			t.Errorf("Select(%s) error = %v, want ErrInvalidTask", tgt.String(), err)
		}
	}
}

func TestPoint(t *testing.T) {
	box := messages.Box{X: 580, Y: 422, W: 62, H: 18}
	tests := []struct {
		target *messages.Target
		x, y   int
	}{
		{nil, 611, 431},
		{&messages.Target{Text: "Sign in"}, 611, 431},
		{&messages.Target{Text: "Sign in", Offset: []int{10, -5}}, 621, 426},
	}
	for _, tt := range tests {
		if x, y := Point(box, tt.target); x != tt.x || y != tt.y {
			t.Errorf("Point(%s) = (%d,%d), want (%d,%d)", tt.target.String(), x, y, tt.x, tt.y)
		}
	}
}

func TestSeen(t *testing.T) {
	tests := []struct {
		fixture string
		want    []string
	}{
		{"welcome", []string{"Sign out", "Welcome, alice!", "You have 3 new messages."}},
		{"nolines", []string{"Users", "alice Edit Delete", "bob Edit Delete", "carol Edit Delete"}},
		{"buttons", []string{"Pick a colour", "Red Green Blue", "Selected: none"}},
	}
	for _, tt := range tests {
		if got := Seen(fixture(t, tt.fixture)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Seen(%s) = %q, want %q", tt.fixture, got, tt.want)
		}
	}
	if got := Seen(nil); len(got) != 0 {
		t.Errorf("Seen(nil) = %q, want nothing", got)
	}
}

func TestNormalize(t *testing.T) {
	tests := map[string]string{
		"Welcome, alice!":   "welcome, alice",
		"  Sign\t in\n":     "sign in",
		"(Password):":       "password",
		"+":                 "+",
		"... ":              "...",
		"Größe ändern":      "größe ändern",
		"«Sign in»":         "sign in",
		"price: $5":         "price: $5",
		"":                  "",
		"Welcome , alice !": "welcome , alice",
	}
	for in, want := range tests {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSimilarity(t *testing.T) {
	tests := []struct {
		a, b string
		want float64
	}{
		{"sign in", "sign in", 1},
		{"sing in", "sign in", 1 - 2.0/7},
		{"", "", 1},
		{"abc", "", 0},
		{"kitten", "sitting", 1 - 3.0/7},
	}
	for _, tt := range tests {
		if got := similarity(tt.a, tt.b); got != tt.want {
			t.Errorf("similarity(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func BenchmarkSelectDensePage(b *testing.B) {
	var boxes []messages.Box
	for line := range 60 {
		for w := range 20 {
			boxes = append(boxes, messages.Box{X: 20 + 60*w, Y: 10 + 13*line, W: 50, H: 11,
				Text: "word" + string(rune('a'+w)), Level: levelWord, Line: line})
		}
	}
	tgt := &messages.Target{Text: "Sign in"}
	b.ResetTimer()
	for b.Loop() {
		_, _ = Select(boxes, tgt)
	}
}

func BenchmarkAnchorOnlyDensePage(b *testing.B) {
	var boxes []messages.Box
	for line := range 60 {
		for w := range 20 {
			boxes = append(boxes, messages.Box{X: 20 + 60*w, Y: 10 + 13*line, W: 50, H: 11,
				Text: "word" + string(rune('a'+w)), Level: levelWord, Line: line})
		}
	}
	tgt := &messages.Target{RightOf: "wordc wordd"}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Select(boxes, tgt); err != nil {
			b.Fatal(err)
		}
	}
}
