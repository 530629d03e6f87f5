package ocr

import (
	"strings"
	"unicode"

	"github.com/otiai10/gosseract/v2"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Values of messages.Box fields that this package sets.
const (
	ClassText = "text"
	LevelWord = "word"
	LevelLine = "line"
)

// borderWidth is the widest a glyph-less "word" can be and still be taken
// for a button or field border: Tesseract reads those 1-pixel rules as "|"
// or "}" with high confidence in single-block mode.
const borderWidth = 2

// lineKey identifies a text line in Tesseract's layout.
type lineKey struct{ block, par, line int }

// Boxes turns Tesseract's word results (as GetBoundingBoxesVerbose returns
// them, in reading order) into screenfleet boxes: for each line, a line box
// (the union of its words, their text joined by spaces) followed by its word
// boxes, all sharing a 1-based Line number. Whitespace-only words and lone
// border glyphs are dropped. Confidence is Tesseract's 0-100 scaled to 0-1;
// a negative score means none was given: the word is kept with Conf 0 and
// left out of its line's score, which is the mean of its scored words.
func Boxes(words []gosseract.BoundingBox) []messages.Box {
	var order []lineKey
	lines := map[lineKey][]gosseract.BoundingBox{}
	for _, w := range words {
		if keepWord(w) {
			k := lineKey{w.BlockNum, w.ParNum, w.LineNum}
			if _, seen := lines[k]; !seen {
				order = append(order, k)
			}
			lines[k] = append(lines[k], w)
		}
	}
	out := make([]messages.Box, 0, len(order)+len(words))
	for i, k := range order {
		out = appendLine(out, i+1, lines[k])
	}
	return out
}

func keepWord(w gosseract.BoundingBox) bool {
	text := strings.TrimSpace(w.Word)
	if text == "" {
		return false
	}
	hasAlnum := strings.ContainsFunc(text, func(r rune) bool {
		return unicode.IsLetter(r) || unicode.IsDigit(r)
	})
	return hasAlnum || w.Box.Dx() > borderWidth
}

// appendLine appends the line box for words, then the word boxes.
func appendLine(out []messages.Box, num int, words []gosseract.BoundingBox) []messages.Box {
	var (
		union  = words[0].Box
		texts  = make([]string, len(words))
		sum    float64
		scored int
	)
	for i, w := range words {
		union = union.Union(w.Box)
		texts[i] = strings.TrimSpace(w.Word)
		if w.Confidence >= 0 {
			sum += w.Confidence
			scored++
		}
	}
	line := box(union.Min.X, union.Min.Y, union.Dx(), union.Dy(), strings.Join(texts, " "), LevelLine, num)
	if scored > 0 {
		line.Conf = conf(sum / float64(scored))
	}
	out = append(out, line)
	for i, w := range words {
		b := box(w.Box.Min.X, w.Box.Min.Y, w.Box.Dx(), w.Box.Dy(), texts[i], LevelWord, num)
		b.Conf = conf(w.Confidence)
		out = append(out, b)
	}
	return out
}

func box(x, y, w, h int, text, level string, line int) messages.Box {
	return messages.Box{X: x, Y: y, W: w, H: h, Text: text, Class: ClassText, Level: level, Line: line}
}

// conf maps a Tesseract score (0-100, negative for none) to 0-1.
func conf(score float64) float32 {
	switch {
	case score <= 0:
		return 0
	case score >= 100:
		return 1
	}
	return float32(score / 100)
}
