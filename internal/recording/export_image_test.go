package recording

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/screenfleet/screenfleet/internal/imagetest"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// TestExportRefusesHugeImageHeader: a recorded JPEG frame whose data claims
// 100000x100000 pixels is refused from its header, not decoded.
func TestExportRefusesHugeImageHeader(t *testing.T) {
	f := &messages.Frame{Seq: 3, Codec: messages.CodecJPEG, Width: 1280, Height: 800,
		Data: imagetest.PNGHeader(100000, 100000)}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := writePNG(filepath.Join(t.TempDir(), "f.png"), f)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "image is 100000x100000, frame says 1280x800") {
		t.Fatalf("export: %v, want the size mismatch", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("refusing the frame allocated %d bytes", grew)
	}
}
