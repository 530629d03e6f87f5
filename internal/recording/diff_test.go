package recording

import (
	"testing"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

func TestDiffBoxes(t *testing.T) {
	word := func(x int, text string) messages.Box {
		return messages.Box{X: x, Y: 10, W: 40, H: 12, Text: text, Level: "word"}
	}
	cases := []struct {
		name                             string
		rec, rep                         []messages.Box
		same, added, removed, moved, txt int
	}{
		{"identical", []messages.Box{word(0, "a"), word(100, "b")}, []messages.Box{word(100, "b"), word(0,
			"a")}, 2, 0, 0, 0, 0},
		{"nothing either side", nil, []messages.Box{}, 0, 0, 0, 0, 0},
		{"slightly moved", []messages.Box{word(0, "a")}, []messages.Box{word(6, "a")}, 0, 0, 0, 1, 0},
		{"moved far, same text", []messages.Box{word(0, "a")}, []messages.Box{word(50, "a")}, 0, 0, 0, 1, 0},
		{"read differently", []messages.Box{word(0, "Sign")}, []messages.Box{word(0, "Sigh")}, 0, 0, 0, 0, 1},
		{"added and removed", []messages.Box{word(0, "a")}, []messages.Box{word(300, "b")}, 0, 1, 1, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := DiffBoxes(c.rec, c.rep)
			if d.Same != c.same || d.Added != c.added || d.Removed != c.removed || d.Moved != c.moved || d.Text != c.txt {
				t.Fatalf("got same %d added %d removed %d moved %d text %d; changes %+v",
					d.Same, d.Added, d.Removed, d.Moved, d.Text, d.Changes)
			}
			if d.Changed() != (c.added+c.removed+c.moved+c.txt > 0) {
				t.Fatalf("Changed() = %v", d.Changed())
			}
		})
	}
}

func TestCheckTarget(t *testing.T) {
	boxes := []messages.Box{{X: 10, Y: 10, W: 40, H: 12, Text: "Sign", Level: "word", Line: 1},
		{X: 54, Y: 10, W: 20, H: 12, Text: "in", Level: "word", Line: 1}}
	a := messages.ActionRecord{Target: &messages.Target{Text: "Sign in"}, X: 42, Y: 16}
	if c := CheckTarget(a, boxes); !c.Found || !c.Same {
		t.Fatalf("same boxes: %+v", c)
	}
	a.X = 80
	if c := CheckTarget(a, boxes); !c.Found || c.Same {
		t.Fatalf("moved point: %+v", c)
	}
	if c := CheckTarget(a, nil); c.Found || c.Same || c.Error == "" {
		t.Fatalf("no boxes: %+v", c)
	}
}
