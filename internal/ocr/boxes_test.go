package ocr

import (
	"image"
	"reflect"
	"testing"

	"github.com/otiai10/gosseract/v2"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

func word(text string, conf float64, x, y, w, h, block, par, line int) gosseract.BoundingBox {
	return gosseract.BoundingBox{
		Box: image.Rect(x, y, x+w, y+h), Word: text, Confidence: conf,
		BlockNum: block, ParNum: par, LineNum: line,
	}
}

func TestBoxes(t *testing.T) {
	words := []gosseract.BoundingBox{
		word("User", 96, 41, 43, 36, 12, 1, 1, 1),
		word("name", -1, 86, 46, 40, 9, 1, 1, 1), // no score: kept, not averaged
		word("|", 78, 40, 103, 1, 29, 1, 1, 2),   // button border
		word("Sign", 90, 57, 111, 30, 15, 1, 1, 2),
		word(" ", 50, 90, 111, 3, 15, 1, 1, 2),  // whitespace-only
		word("in", 0, 97, 111, 13, 12, 1, 1, 2), // correct word scored 0
		word("}", 9, 126, 103, 1, 29, 1, 1, 2),  // button border
		word("OK", 100, 300, 400, 20, 12, 2, 1, 1),
	}
	want := []messages.Box{
		{X: 41, Y: 43, W: 85, H: 12, Text: "User name", Class: "text", Conf: 0.96, Level: "line", Line: 1},
		{X: 41, Y: 43, W: 36, H: 12, Text: "User", Class: "text", Conf: 0.96, Level: "word", Line: 1},
		{X: 86, Y: 46, W: 40, H: 9, Text: "name", Class: "text", Conf: 0, Level: "word", Line: 1},
		{X: 57, Y: 111, W: 53, H: 15, Text: "Sign in", Class: "text", Conf: 0.45, Level: "line", Line: 2},
		{X: 57, Y: 111, W: 30, H: 15, Text: "Sign", Class: "text", Conf: 0.9, Level: "word", Line: 2},
		{X: 97, Y: 111, W: 13, H: 12, Text: "in", Class: "text", Conf: 0, Level: "word", Line: 2},
		{X: 300, Y: 400, W: 20, H: 12, Text: "OK", Class: "text", Conf: 1, Level: "line", Line: 3},
		{X: 300, Y: 400, W: 20, H: 12, Text: "OK", Class: "text", Conf: 1, Level: "word", Line: 3},
	}
	got := Boxes(words)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("boxes:\n%+v\nwant:\n%+v", got, want)
	}
}

func TestBoxesKeepsWideSymbolsAndUnscoredLines(t *testing.T) {
	got := Boxes([]gosseract.BoundingBox{
		word("—", -1, 10, 10, 12, 2, 1, 1, 1), // a real dash, wider than a border
	})
	want := []messages.Box{
		{X: 10, Y: 10, W: 12, H: 2, Text: "—", Class: "text", Level: "line", Line: 1},
		{X: 10, Y: 10, W: 12, H: 2, Text: "—", Class: "text", Level: "word", Line: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("boxes %+v, want %+v", got, want)
	}
	if got := Boxes(nil); len(got) != 0 {
		t.Fatalf("no words gave %+v", got)
	}
}

// C07: Tesseract's TSV gives page, block, paragraph and line rows (levels
// 1-4) with conf -1 and no text, and only word rows carry scores.
// gosseract's GetBoundingBoxesVerbose walks words only, but rows shaped like
// those must still make no box; a whitespace-only word is dropped; a word
// scored -1 is kept and left out of its line's score, which comes from its
// word rows only; a correct word scored 0 is kept and counts as 0.
func TestBoxesTSVRowsC07(t *testing.T) {
	words := []gosseract.BoundingBox{
		word("", -1, 0, 0, 640, 400, 0, 0, 0),  // level 1: the page
		word("", -1, 40, 40, 200, 60, 1, 0, 0), // level 2: a block
		word("", -1, 40, 40, 200, 60, 1, 1, 0), // level 3: a paragraph
		word("", -1, 40, 40, 200, 20, 1, 1, 1), // level 4: a line
		word("Save", 0, 40, 40, 40, 14, 1, 1, 1),
		word("\t ", 91, 84, 40, 6, 14, 1, 1, 1),
		word("as", -1, 92, 43, 16, 11, 1, 1, 1),
		word("draft", 80, 112, 40, 40, 14, 1, 1, 1),
	}
	want := []messages.Box{
		{X: 40, Y: 40, W: 112, H: 14, Text: "Save as draft", Class: "text", Conf: 0.4, Level: "line", Line: 1},
		{X: 40, Y: 40, W: 40, H: 14, Text: "Save", Class: "text", Conf: 0, Level: "word", Line: 1},
		{X: 92, Y: 43, W: 16, H: 11, Text: "as", Class: "text", Conf: 0, Level: "word", Line: 1},
		{X: 112, Y: 40, W: 40, H: 14, Text: "draft", Class: "text", Conf: 0.8, Level: "word", Line: 1},
	}
	if got := Boxes(words); !reflect.DeepEqual(got, want) {
		t.Fatalf("boxes:\n%+v\nwant:\n%+v", got, want)
	}
}
