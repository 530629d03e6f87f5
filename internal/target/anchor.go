package target

import (
	"fmt"
	"math"
	"strings"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Anchor kinds, in the order they are checked and described.
const (
	rightOf = "right_of"
	leftOf  = "left_of"
	below   = "below"
	above   = "above"
	near    = "near"
)

var anchorKinds = []string{rightOf, leftOf, below, above, near}

// anchor is one spatial condition of a target with every box its text
// resolved to.
type anchor struct {
	kind  string
	text  string
	boxes []messages.Box
}

type scored struct {
	candidate
	dist float64
}

// resolveAnchors finds the boxes of each anchor text of t: exact matches
// first, contains matches when there is no exact one. A missing anchor is a
// *NotFoundError naming it.
func resolveAnchors(all []candidate, t *messages.Target) ([]anchor, error) {
	kinds := t.Anchors()
	var out []anchor
	for _, kind := range anchorKinds {
		text, ok := kinds[kind]
		if !ok {
			continue
		}
		boxes := anchorBoxes(all, text)
		if len(boxes) == 0 {
			return nil, &NotFoundError{Target: t.String(),
				Reason: fmt.Sprintf("anchor %q not found", text), Closest: closest(all, text)}
		}
		out = append(out, anchor{kind: kind, text: text, boxes: boxes})
	}
	return out, nil
}

func anchorBoxes(all []candidate, text string) []messages.Box {
	for _, mode := range []messages.Match{messages.MatchExact, messages.MatchContains} {
		match, _ := newTextMatcher(text, mode) // exact and contains cannot fail
		var found []candidate
		for i := range all {
			if match(&all[i]) {
				found = append(found, all[i])
			}
		}
		if found = dedupe(found); len(found) > 0 {
			boxes := make([]messages.Box, len(found))
			for i, c := range found {
				boxes[i] = c.box
			}
			return boxes
		}
	}
	return nil
}

// distance is the sum over anchors of the distance from c to the nearest box
// of that anchor that c lies in the direction of. It reports false when c
// fails an anchor.
func distance(c messages.Box, anchors []anchor) (float64, bool) {
	total := 0.0
	for _, a := range anchors {
		best, ok := math.Inf(1), false
		for _, b := range a.boxes {
			if d, in := relation(a.kind, b, c); in && d < best {
				best, ok = d, true
			}
		}
		if !ok {
			return 0, false
		}
		total += best
	}
	return total, true
}

// relation reports whether c lies in direction kind of the anchor box a, and
// how far. below and above need c to overlap a horizontally. right_of and
// left_of need c to overlap a vertically, or to come within one text height
// of it: a label level with the middle of a tall field (a textarea) misses
// the placeholder at the field's top by a few pixels. near takes any box
// that is not the anchor itself. A slack of a quarter of the smaller height
// absorbs OCR boxes that touch.
func relation(kind string, a, c messages.Box) (float64, bool) {
	if sameSpot(a, c) {
		return 0, false
	}
	slack := min(a.H, c.H) / 4
	level := vOverlap(a, c) > -min(a.H, c.H)
	dx := float64(c.CenterX() - a.CenterX())
	dy := float64(c.CenterY() - a.CenterY())
	switch kind {
	case rightOf:
		gap := c.X - (a.X + a.W)
		return math.Hypot(float64(max(gap, 0)), dy), gap >= -slack && level
	case leftOf:
		gap := a.X - (c.X + c.W)
		return math.Hypot(float64(max(gap, 0)), dy), gap >= -slack && level
	case below:
		gap := c.Y - (a.Y + a.H)
		return math.Hypot(float64(max(gap, 0)), dx), gap >= -slack && hOverlap(a, c) > 0
	case above:
		gap := a.Y - (c.Y + c.H)
		return math.Hypot(float64(max(gap, 0)), dx), gap >= -slack && hOverlap(a, c) > 0
	case near:
		return centreDistance(a, c), true
	}
	return 0, false
}

// describeAnchors says where nothing was found, e.g. `nothing right_of "User name"`.
func describeAnchors(anchors []anchor) string {
	parts := make([]string, len(anchors))
	for i, a := range anchors {
		parts[i] = fmt.Sprintf("%s %q", a.kind, a.text)
	}
	return "nothing " + strings.Join(parts, " and ")
}
