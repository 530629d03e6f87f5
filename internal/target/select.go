// Package target chooses the one box a step's target selects among the boxes
// an inference model returned for a frame.
//
// Candidates are built from OCR word boxes (every contiguous run of words on
// a line, so "Sign in" is found inside "Sign in Cancel"), OCR line boxes, and
// the boxes of element models as they are. A target filters them by text
// (exact, contains or regex, case-insensitive, whitespace collapsed,
// punctuation at the ends ignored), class, region and spatial anchors, keeps
// the tightest candidate per spot on screen, and orders what is left in
// reading order (or by distance from the anchor). The package is pure: no
// I/O, no clock.
package target

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Select returns the box t selects among boxes: the match at t.Index in
// reading order, or by distance from the anchor when t has one. A phrase of
// several words is returned as one box, the union of its words, with their
// text joined by spaces. When nothing matches, the error is a *NotFoundError
// (it wraps messages.ErrTargetNotFound); an invalid target wraps
// messages.ErrInvalidTask.
func Select(boxes []messages.Box, t *messages.Target) (messages.Box, error) {
	found, err := Matches(boxes, t)
	if err != nil {
		return messages.Box{}, err
	}
	if t.Index >= len(found) {
		return messages.Box{}, &NotFoundError{Target: t.String(),
			Reason: fmt.Sprintf("only %d match", len(found))}
	}
	return found[t.Index], nil
}

// Matches returns every box t matches, in the order t.Index counts. It
// returns a *NotFoundError when there is none.
func Matches(boxes []messages.Box, t *messages.Target) ([]messages.Box, error) {
	if t == nil || t.Index < 0 {
		return nil, fmt.Errorf("%w: target %s: no target or a negative index", messages.ErrInvalidTask,
			t.String())
	}
	all := candidates(boxes)
	found, err := filter(all, t)
	if err != nil {
		return nil, err
	}
	found = dedupe(found)
	if len(found) == 0 {
		return nil, notFound(all, t, "")
	}

	anchors, err := resolveAnchors(all, t)
	if err != nil {
		return nil, err
	}
	ordered := order(found, anchors)
	if len(ordered) == 0 {
		return nil, notFound(all, t, describeAnchors(anchors))
	}
	out := make([]messages.Box, len(ordered))
	for i, c := range ordered {
		out[i] = c.box
	}
	return out, nil
}

// filter keeps the candidates that match t's text, class and region. A
// target without text never selects OCR noise made only of punctuation,
// such as the "|" a field's border is often read as.
func filter(all []candidate, t *messages.Target) ([]candidate, error) {
	keep := func(c *candidate) bool { return c.words == 0 || strings.ContainsFunc(c.text, isAlnum) }
	if t.Text != "" {
		match, err := newTextMatcher(t.Text, t.Match)
		if err != nil {
			return nil, err
		}
		keep = match
	}
	var found []candidate
	for i := range all {
		if keep(&all[i]) {
			found = append(found, all[i])
		}
	}
	if t.Class != "" {
		found = withClass(found, all, t.Class)
	}
	if t.Region != nil {
		found = inRegion(found, t.Region)
	}
	return found, nil
}

func isAlnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// dedupe keeps one candidate per spot on screen, the tightest: fewest words,
// then an element over a phrase over a line, then the smallest box.
func dedupe(cs []candidate) []candidate {
	idx := make([]int, len(cs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(i, j int) int {
		a, b := &cs[i], &cs[j]
		return cmp.Or(cmp.Compare(a.words, b.words), cmp.Compare(a.kind, b.kind),
			cmp.Compare(area(a.box), area(b.box)), cmp.Compare(a.rank, b.rank))
	})

	kept := newSpots()
	for _, i := range idx {
		if !kept.taken(&cs[i]) {
			kept.keep(cs[i])
		}
	}
	return kept.kept
}

// order sorts candidates in reading order, or, with anchors, keeps those in
// the anchors' directions ordered by distance (then reading order).
func order(found []candidate, anchors []anchor) []candidate {
	if len(anchors) == 0 {
		sort.SliceStable(found, func(i, j int) bool { return found[i].rank < found[j].rank })
		return found
	}
	var near []scored
	for _, c := range found {
		if d, ok := distance(c.box, anchors); ok {
			near = append(near, scored{c, d})
		}
	}
	sort.SliceStable(near, func(i, j int) bool {
		if near[i].dist != near[j].dist {
			return near[i].dist < near[j].dist
		}
		return near[i].rank < near[j].rank
	})
	out := make([]candidate, len(near))
	for i, s := range near {
		out[i] = s.candidate
	}
	return out
}

// Point returns where to act on box for t: the box's centre moved by t's
// offset [dx, dy] when it has one. t may be nil.
func Point(box messages.Box, t *messages.Target) (x, y int) {
	x, y = box.CenterX(), box.CenterY()
	if t != nil && len(t.Offset) == 2 {
		x, y = x+t.Offset[0], y+t.Offset[1]
	}
	return x, y
}
