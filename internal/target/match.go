package target

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// normalize lowercases s, collapses whitespace and trims punctuation and
// symbols at both ends, so that OCR's "Welcome, alice!" equals "welcome,
// alice". A text made only of punctuation ("+", "...") is kept as it is.
func normalize(s string) string {
	return trimNorm(strings.Join(strings.Fields(strings.ToLower(s)), " "))
}

// trimNorm finishes normalize on a lowercased, whitespace-collapsed text.
func trimNorm(collapsed string) string {
	trimmed := strings.TrimFunc(collapsed, func(r rune) bool {
		return unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r)
	})
	if trimmed == "" {
		return collapsed
	}
	return trimmed
}

// textMatcher reports whether a candidate's text matches.
type textMatcher func(c *candidate) bool

// newTextMatcher builds the matcher for text under mode (exact when empty).
// An invalid regex is an error wrapping messages.ErrInvalidTask.
func newTextMatcher(text string, mode messages.Match) (textMatcher, error) {
	want := normalize(text)
	switch mode {
	case "", messages.MatchExact:
		return func(c *candidate) bool { return c.words > 0 && c.norm == want }, nil
	case messages.MatchContains:
		return func(c *candidate) bool { return c.words > 0 && strings.Contains(c.norm, want) }, nil
	case messages.MatchRegex:
		re, err := regexp.Compile("(?i)" + text)
		if err != nil {
			return nil, fmt.Errorf("%w: target text %q: invalid regex: %w", messages.ErrInvalidTask, text, err)
		}
		return func(c *candidate) bool { return c.words > 0 && re.MatchString(c.text) }, nil
	}
	return nil, fmt.Errorf("%w: target match %q: want exact, contains or regex", messages.ErrInvalidTask, mode)
}

// classOf is a candidate's class: the model's own, or "text" for OCR boxes.
func classOf(c *candidate) string {
	if c.box.Class != "" {
		return strings.ToLower(c.box.Class)
	}
	if c.words > 0 {
		return "text"
	}
	return ""
}

// withClass keeps the candidates of class. A text candidate that lies inside
// an element of that class (the label of a button) stands for the smallest
// such element, so {"text": "Sign in", "class": "button"} selects the button.
func withClass(found, all []candidate, class string) []candidate {
	class = strings.ToLower(class)
	var out []candidate
	for i := range found {
		c := found[i]
		if classOf(&c) == class {
			out = append(out, c)
			continue
		}
		if e, ok := enclosing(c, all, class); ok {
			out = append(out, e)
		}
	}
	return out
}

func enclosing(c candidate, all []candidate, class string) (candidate, bool) {
	var best candidate
	found := false
	for i := range all {
		e := all[i]
		if e.kind != kindElement || classOf(&e) != class || !inside(c.box.CenterX(), c.box.CenterY(), e.box) {
			continue
		}
		if !found || area(e.box) < area(best.box) {
			best, found = e, true
		}
	}
	if found && best.words == 0 {
		best.text, best.norm, best.words = c.text, c.norm, c.words
		best.box.Text = c.text
	}
	return best, found
}

// inRegion keeps the candidates whose centre lies in r.
func inRegion(found []candidate, r *messages.Rect) []candidate {
	box := messages.Box{X: r.X, Y: r.Y, W: r.W, H: r.H}
	var out []candidate
	for _, c := range found {
		if inside(c.box.CenterX(), c.box.CenterY(), box) {
			out = append(out, c)
		}
	}
	return out
}
