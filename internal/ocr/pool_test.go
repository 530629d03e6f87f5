package ocr

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/screenfleet/screenfleet/internal/ocr/ocrtest"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

func newTestPool(t *testing.T, n int) *Pool {
	t.Helper()
	if os.Getenv("OMP_THREAD_LIMIT") != "1" {
		t.Log("OMP_THREAD_LIMIT is not 1: Tesseract runs several times slower")
	}
	p, err := NewPool(n, Options{})
	if err != nil {
		t.Fatalf("new pool: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestRecognizeLoginPage(t *testing.T) {
	shot := ocrtest.Screenshot(t, ocrtest.LoginPage, 480, 200)
	p := newTestPool(t, 1)
	boxes, err := p.Recognize(t.Context(), shot)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text string
		at   ocrtest.Rect
	}{
		{"User name", ocrtest.UserNameAt},
		{"Sign in", ocrtest.SignInAt},
		{"Cancel", ocrtest.CancelAt},
	} {
		assertPhrase(t, boxes, tc.text, tc.at)
	}
	assertLinesCoverWords(t, boxes)
}

// assertPhrase checks that the words of text appear in order on one line,
// each with a confident box whose centre lies near at.
func assertPhrase(t *testing.T, boxes []messages.Box, text string, at ocrtest.Rect) {
	t.Helper()
	want := strings.Fields(text)
	for i, b := range boxes {
		if b.Level != LevelWord || b.Text != want[0] {
			continue
		}
		got := wordsFrom(boxes[i:], b.Line, len(want))
		if !reflect.DeepEqual(texts(got), want) {
			continue
		}
		for _, w := range got {
			if !at.Contains(w.CenterX(), w.CenterY(), 4) || w.Conf < 0.5 || w.Class != ClassText {
				t.Errorf("%q: word %+v is not a confident text box inside %+v", text, w, at)
			}
		}
		return
	}
	t.Errorf("%q not found in %v", text, lineTexts(boxes))
}

func wordsFrom(boxes []messages.Box, line, n int) []messages.Box {
	var out []messages.Box
	for _, b := range boxes {
		if len(out) == n || b.Line != line {
			break
		}
		if b.Level == LevelWord {
			out = append(out, b)
		}
	}
	return out
}

func texts(bs []messages.Box) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Text
	}
	return out
}

func lineTexts(boxes []messages.Box) []string {
	var out []string
	for _, b := range boxes {
		if b.Level == LevelLine {
			out = append(out, b.Text)
		}
	}
	return out
}

// assertLinesCoverWords checks that every word lies inside its line's box.
func assertLinesCoverWords(t *testing.T, boxes []messages.Box) {
	t.Helper()
	lines := map[int]messages.Box{}
	for _, b := range boxes {
		if b.Level == LevelLine {
			lines[b.Line] = b
			continue
		}
		l, ok := lines[b.Line]
		if !ok || b.X < l.X || b.Y < l.Y || b.X+b.W > l.X+l.W || b.Y+b.H > l.Y+l.H {
			t.Errorf("word %+v is outside its line %+v", b, l)
		}
	}
}

func TestRecognizeConcurrent(t *testing.T) {
	shot := ocrtest.Screenshot(t, ocrtest.LoginPage, 480, 200)
	p := newTestPool(t, 2)
	const calls = 4
	results := make([][]messages.Box, calls)
	errs := make([]error, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() { results[i], errs[i] = p.Recognize(t.Context(), shot) })
	}
	wg.Wait()
	for i := range calls {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if !reflect.DeepEqual(results[i], results[0]) {
			t.Fatalf("call %d gave %v, call 0 gave %v", i, lineTexts(results[i]), lineTexts(results[0]))
		}
	}
}

func TestRecognizeBadImageKeepsEngine(t *testing.T) {
	p := newTestPool(t, 1)
	good := encodePNG(t, 64, 32)
	// A valid header with a truncated body passes CheckImage but not
	// Leptonica; gosseract would hand Tesseract a NULL image and crash.
	truncated := good[:len(good)-20]
	if _, err := p.Recognize(t.Context(), truncated); !errors.Is(err, ErrBadImage) {
		t.Fatalf("truncated PNG: error %v, want ErrBadImage", err)
	}
	if _, err := p.Recognize(t.Context(), []byte("not an image")); !errors.Is(err, ErrBadImage) {
		t.Fatalf("garbage: error %v, want ErrBadImage", err)
	}
	if _, err := p.Recognize(t.Context(), good); err != nil {
		t.Fatalf("good image after bad ones: %v", err)
	}
}

func TestRecognizeWaitAndClose(t *testing.T) {
	p := newTestPool(t, 1)
	img := encodePNG(t, 64, 32)
	engine := <-p.idle // every engine busy
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Recognize(ctx, img); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: error %v, want context.Canceled", err)
	}
	p.idle <- engine
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Recognize(t.Context(), img); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: error %v, want ErrClosed", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// BenchmarkRecognize measures one full 1280x800 frame on one engine; the
// platform notes measured about 270 ms with OMP_THREAD_LIMIT=1.
func BenchmarkRecognize(b *testing.B) {
	shot := ocrtest.Screenshot(b, ocrtest.LoginPage, 1280, 800)
	p, err := NewPool(1, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for b.Loop() {
		if _, err := p.Recognize(b.Context(), shot); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNewPoolMissingLanguage(t *testing.T) {
	p, err := NewPool(2, Options{Languages: []string{"no-such-language"}})
	if err == nil {
		p.Close()
		t.Fatal("pool started without its language data")
	}
	if !strings.Contains(err.Error(), "ocr engine 0: warm-up:") {
		t.Fatalf("error %q does not say which engine failed where", err)
	}
}
