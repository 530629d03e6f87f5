package recording

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

func TestExportConvertsJPEGFramesToPNG(t *testing.T) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 64, 32)), nil); err != nil {
		t.Fatal(err)
	}
	f := messages.Frame{V: 1, Task: "j", Sandbox: "sb", Seq: 1, CapturedAt: time.Now().UnixNano(),
		Codec: messages.CodecJPEG, Width: 64, Height: 32, Scale: 1, Data: buf.Bytes()}
	rec := &Recording{Selection: Selection{Task: "j"}, Frames: []*Frame{{Frame: f, Model: "ocr"},
		{Frame: f, Model: "ocr"}}} // a retried run's frame 1 gets a name of its own
	dir := t.TempDir()
	idx, err := Export(dir, rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Frames) != 2 || idx.Frames[0].File == idx.Frames[1].File {
		t.Fatalf("index frames: %+v", idx.Frames)
	}
	b, err := os.ReadFile(filepath.Join(dir, idx.Frames[0].File))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() != 64 {
		t.Fatalf("exported JPEG frame is not a 64-pixel-wide PNG: %v", err)
	}
}
