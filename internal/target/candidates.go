package target

import (
	"cmp"
	"slices"
	"sort"
	"strings"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Box levels written by the OCR model.
const (
	levelWord = "word"
	levelLine = "line"
	// levelPhrase marks a box this package built from a run of words.
	levelPhrase = "phrase"
)

// maxPhraseWords bounds the runs of words built per line. Targets are short
// labels; longer texts still match through the model's line boxes, and the
// bound keeps a dense page (a line of 40 words) from costing n² phrases.
const maxPhraseWords = 16

// kind says where a candidate came from. The order is the tie-break order when
// two candidates cover one place with as many words: the smaller kind wins.
type kind int

const (
	kindElement kind = iota // a box from an element model (button, input, ...)
	kindPhrase              // a contiguous run of OCR words on one line
	kindLine                // an OCR line box
)

// candidate is one thing a target may select.
type candidate struct {
	box   messages.Box
	text  string // whitespace-collapsed text as seen
	norm  string // normalised text for exact and contains matching
	words int    // words in text; 0 for a box without text
	kind  kind
	rank  int // position in reading order among all candidates
}

// candidates builds every phrase, line and element candidate from boxes and
// ranks them in reading order.
func candidates(boxes []messages.Box) []candidate {
	lines := wordLines(boxes)
	size := len(boxes)
	for _, line := range lines {
		size += len(line) * min(len(line), maxPhraseWords)
	}
	out := make([]candidate, 0, size)
	for _, line := range lines {
		out = appendPhrases(out, line)
	}
	for _, b := range boxes {
		if !valid(b) || b.Level == levelWord {
			continue
		}
		k := kindElement
		if b.Level == levelLine {
			k = kindLine
		}
		c := newCandidate(b, k)
		if k == kindLine && c.words == 0 {
			continue // an empty line says nothing
		}
		out = append(out, c)
	}
	rankReadingOrder(out)
	return out
}

func valid(b messages.Box) bool { return b.W >= 0 && b.H >= 0 }

func newCandidate(b messages.Box, k kind) candidate {
	fields := strings.Fields(b.Text)
	text := strings.Join(fields, " ")
	return candidate{box: b, text: text, norm: normalize(text), words: len(fields), kind: k}
}

// wordLines groups word boxes into lines: by their Line number, then split
// where a word does not overlap its left neighbour vertically, so that words
// from a model that numbers no lines are never joined across rows.
func wordLines(boxes []messages.Box) [][]messages.Box {
	byLine := map[int][]messages.Box{}
	var numbers []int
	for _, b := range boxes {
		if b.Level != levelWord || !valid(b) || strings.TrimSpace(b.Text) == "" {
			continue
		}
		if _, ok := byLine[b.Line]; !ok {
			numbers = append(numbers, b.Line)
		}
		byLine[b.Line] = append(byLine[b.Line], b)
	}
	sort.Ints(numbers)

	var lines [][]messages.Box
	for _, n := range numbers {
		lines = append(lines, splitRows(byLine[n])...)
	}
	return lines
}

// splitRows orders words by centre height, cuts them into rows of vertically
// overlapping words, and orders each row left to right.
func splitRows(words []messages.Box) [][]messages.Box {
	sort.SliceStable(words, func(i, j int) bool { return words[i].CenterY() < words[j].CenterY() })
	var rows [][]messages.Box
	start := 0
	for i := 1; i <= len(words); i++ {
		if i < len(words) && vOverlap(words[start], words[i]) > 0 {
			continue
		}
		row := words[start:i]
		sort.SliceStable(row, func(a, b int) bool { return row[a].X < row[b].X })
		rows = append(rows, row)
		start = i
	}
	return rows
}

// appendPhrases appends every run of up to maxPhraseWords contiguous words of one
// line, each with the union of its words' boxes. The texts of all runs are
// substrings of the line's joined text, so a dense line costs few allocations.
func appendPhrases(out []candidate, line []messages.Box) []candidate {
	var text, lower strings.Builder
	starts, ends, lstarts, lends := make([]int, len(line)), make([]int, len(line)), make([]int,
		len(line)), make([]int, len(line))
	counts := make([]int, len(line)+1) // counts[i] = words before line[i]
	for i, w := range line {
		fields := strings.Fields(w.Text)
		if i > 0 {
			text.WriteByte(' ')
			lower.WriteByte(' ')
		}
		starts[i], lstarts[i] = text.Len(), lower.Len()
		joined := strings.Join(fields, " ")
		text.WriteString(joined)
		lower.WriteString(strings.ToLower(joined))
		ends[i], lends[i] = text.Len(), lower.Len()
		counts[i+1] = counts[i] + len(fields)
	}
	all, allLower := text.String(), lower.String()

	for i := range line {
		box := line[i]
		for j := i; j < len(line) && j-i < maxPhraseWords; j++ {
			if j > i {
				box = union(box, line[j])
				box.Conf = min(box.Conf, line[j].Conf)
			}
			b := box
			b.Text, b.Level = all[starts[i]:ends[j]], levelPhrase
			if j == i {
				b.Level = levelWord
			}
			out = append(out, candidate{box: b, text: b.Text, norm: trimNorm(allLower[lstarts[i]:lends[j]]),
				words: counts[j+1] - counts[i], kind: kindPhrase})
		}
	}
	return out
}

// rankReadingOrder sets each candidate's rank: rows top to bottom, where a
// box joins a row when its centre lies within half a box height of the row's
// first box, and left to right within a row.
func rankReadingOrder(cs []candidate) {
	idx := make([]int, len(cs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return cmp.Compare(cs[a].box.CenterY(),
			cs[b].box.CenterY())
	})

	rank := 0
	for start := 0; start < len(idx); {
		head := cs[idx[start]].box
		end := start + 1
		for end < len(idx) && sameRow(head, cs[idx[end]].box) {
			end++
		}
		row := idx[start:end]
		slices.SortStableFunc(row, func(a, b int) int { return cmp.Compare(cs[a].box.X, cs[b].box.X) })
		for _, i := range row {
			cs[i].rank = rank
			rank++
		}
		start = end
	}
}

// sameRow reports whether b's centre is within half of the smaller height of
// head's centre: the line tolerance of reading order.
func sameRow(head, b messages.Box) bool {
	tol := min(head.H, b.H) / 2
	return b.CenterY()-head.CenterY() <= tol
}
