package target

import (
	"strings"
	"testing"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// FuzzSelect feeds arbitrary boxes and targets to Select, Matches, Seen and
// Point: none may panic, and a chosen box must be one Matches returned.
func FuzzSelect(f *testing.F) {
	f.Add([]byte{10, 10, 40, 18, 0, 1, 0, 60, 10, 20, 18, 0, 1, 1}, "Sign in Cancel", "sign in", "",
		uint8(0), uint8(0), "")
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 200, 200, 255, 255, 2, 3, 2}, "a b", "a", "b", uint8(5), uint8(1),
		"button")
	f.Add([]byte{128, 128, 128, 128, 0, 0, 0}, "(((", "(", "(", uint8(2), uint8(0), "text")
	f.Fuzz(func(t *testing.T, layout []byte, texts, text, anchor string, mode, index uint8, class string) {
		boxes := fuzzBoxes(layout, strings.Fields(texts))
		tgt := &messages.Target{
			Text:   text,
			Match:  []messages.Match{"", messages.MatchExact, messages.MatchContains, messages.MatchRegex}[mode%4],
			Class:  class,
			Index:  int(index%8) - 1,
			Offset: []int{int(mode) - 128, int(index) - 128},
		}
		switch mode / 4 % 6 {
		case 0:
			tgt.RightOf = anchor
		case 1:
			tgt.LeftOf = anchor
		case 2:
			tgt.Below = anchor
		case 3:
			tgt.Above = anchor
		case 4:
			tgt.Near = anchor
		}
		if mode&0x80 != 0 {
			tgt.Region = &messages.Rect{X: int(int8(index)), Y: int(int8(mode)), W: 100, H: 100}
		}

		got, err := Select(boxes, tgt)
		all, merr := Matches(boxes, tgt)
		if err == nil && (merr != nil || tgt.Index >= len(all) || all[tgt.Index] != got) {
			t.Fatalf("Select = %+v but Matches = %+v, %v", got, all, merr)
		}
		_ = Seen(boxes)
		_, _ = Point(got, tgt)
	})
}

// fuzzBoxes reads boxes of 7 bytes each: x, y, w, h (signed, scaled), a
// level, a line number and which text to use.
func fuzzBoxes(layout []byte, words []string) []messages.Box {
	levels := []string{levelWord, levelLine, "", "word"}
	classes := []string{"", "button", "input", "text"}
	var boxes []messages.Box
	for i := 0; i+7 <= len(layout); i += 7 {
		p := layout[i : i+7]
		b := messages.Box{
			X: int(int8(p[0])) * 10, Y: int(int8(p[1])) * 10,
			W: int(int8(p[2])), H: int(int8(p[3])),
			Level: levels[p[4]%4], Class: classes[p[4]/4%4], Line: int(p[5] % 4),
		}
		if len(words) > 0 {
			b.Text = words[int(p[6])%len(words)]
		}
		boxes = append(boxes, b)
	}
	return boxes
}
