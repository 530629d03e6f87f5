package target

import (
	"cmp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// maxClosest is how many near misses a NotFoundError lists: enough to spot a
// typo or an OCR misreading, short enough for one progress line.
const maxClosest = 5

// NotFoundError says that no box matched a target, and which texts on screen
// came closest. It wraps messages.ErrTargetNotFound.
type NotFoundError struct {
	Target  string   // the target, described as messages.Target.String does
	Reason  string   // what narrowed it to nothing, when more than the text
	Closest []string // up to 5 texts seen, most similar first
}

// Error reads like `no box matches text "Sing in"; closest seen: "Sign in"`.
func (e *NotFoundError) Error() string {
	var b strings.Builder
	b.WriteString("no box matches ")
	b.WriteString(e.Target)
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if len(e.Closest) > 0 {
		b.WriteString("; closest seen: ")
		b.WriteString(Quote(e.Closest))
	}
	return b.String()
}

// Unwrap returns messages.ErrTargetNotFound.
func (e *NotFoundError) Unwrap() error { return messages.ErrTargetNotFound }

// Quote joins texts as a comma-separated list of quoted strings.
func Quote(texts []string) string {
	q := make([]string, len(texts))
	for i, s := range texts {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func notFound(all []candidate, t *messages.Target, reason string) error {
	e := &NotFoundError{Target: t.String(), Reason: reason}
	if t.Text != "" {
		e.Closest = closest(all, t.Text)
	}
	return e
}

// closest returns up to maxClosest distinct texts most similar to ref:
// lines, element texts, and phrases within one word of ref's length. One
// spot on screen is named once, by its most similar text, so "Sign in" is
// not followed by its own words "Sign" and "in".
func closest(all []candidate, ref string) []string {
	want := normalize(ref)
	words := len(strings.Fields(want))
	type hit struct {
		c     *candidate
		score float64
	}
	var hits []hit
	for i := range all {
		c := &all[i]
		if c.words == 0 || (c.kind == kindPhrase && abs(c.words-words) > 1) {
			continue
		}
		if s := similarity(c.norm, want); s > 0 {
			hits = append(hits, hit{c, s})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.c.rank, b.c.rank))
	})

	out := make([]string, 0, maxClosest)
	named := newSpots()
	for i := 0; i < len(hits) && len(out) < maxClosest; i++ {
		if c := hits[i].c; !named.taken(c) && !slices.Contains(out, c.text) {
			named.keep(*c)
			out = append(out, c.text)
		}
	}
	return out
}

// similarity is 1 minus the Levenshtein distance between a and b over the
// length of the longer, in runes: 1 for equal texts, 0 for nothing in common.
func similarity(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	n := max(len(ra), len(rb))
	if n == 0 {
		return 1
	}
	return 1 - float64(levenshtein(ra, rb))/float64(n)
}

func levenshtein(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Seen returns the texts on screen line by line in reading order: the
// model's line boxes, the words of lines it gave no line box for, and the
// texts of element boxes. Failure reports show it.
func Seen(boxes []messages.Box) []string {
	hasLine := map[int]bool{}
	for _, b := range boxes {
		if b.Level == levelLine && strings.TrimSpace(b.Text) != "" {
			hasLine[b.Line] = true
		}
	}
	var lines []candidate
	for _, row := range wordLines(boxes) {
		if hasLine[row[0].Line] {
			continue
		}
		joined := row[0]
		for _, w := range row[1:] {
			joined = union(joined, w)
			joined.Text += " " + w.Text
		}
		lines = append(lines, newCandidate(joined, kindLine))
	}
	for _, b := range boxes {
		if valid(b) && b.Level != levelWord && strings.TrimSpace(b.Text) != "" {
			lines = append(lines, newCandidate(b, kindLine))
		}
	}
	rankReadingOrder(lines)
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].rank < lines[j].rank })
	out := make([]string, len(lines))
	for i, c := range lines {
		out[i] = c.text
	}
	return out
}
