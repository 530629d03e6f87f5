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
