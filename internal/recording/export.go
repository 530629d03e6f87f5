package recording

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // frames may be JPEG; export writes PNG
	"image/png"
	"os"
	"path/filepath"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
	_ "github.com/screenfleet/screenfleet/pkg/rawframe" // and sfraw, the agent's default
)

// IndexFile is the name of the JSON index Export writes.
const IndexFile = "index.json"

// Index is the JSON index of an export.
type Index struct {
	Selection string                     `json:"selection"`
	Frames    []IndexFrame               `json:"frames"`
	Runs      []messages.TaskRecord      `json:"runs"`
	Missing   []messages.DetectionRecord `json:"missing,omitempty"`
}

// IndexFrame describes one exported frame. Boxes are in the file's pixels.
type IndexFrame struct {
	File       string                    `json:"file"`
	Task       string                    `json:"task"`
	Sandbox    string                    `json:"sandbox"`
	Seq        uint64                    `json:"seq"`
	Model      string                    `json:"model"`
	CapturedAt time.Time                 `json:"captured_at"`
	Width      int                       `json:"width"`
	Height     int                       `json:"height"`
	DisplayW   int                       `json:"display_w"`
	DisplayH   int                       `json:"display_h"`
	Scale      float64                   `json:"scale"`
	CropX      int                       `json:"crop_x"`
	CropY      int                       `json:"crop_y"`
	Detections *messages.DetectionRecord `json:"detections,omitempty"`
	Actions    []messages.ActionRecord   `json:"actions,omitempty"`
}

// Export writes rec's frames into dir as PNG files, <task>-<seq>.png (runs
// of a task that was retried get -<capture time> appended), and an
// index.json describing each with its records. It returns the index.
func Export(dir string, rec *Recording) (*Index, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("recording: export: %w", err)
	}
	idx := &Index{Selection: rec.Selection.String(), Runs: rec.Runs, Missing: rec.Missing, Frames: []IndexFrame{}}
	used := map[string]bool{}
	for _, f := range rec.Frames {
		name := fmt.Sprintf("%s-%04d.png", f.Frame.Task, f.Frame.Seq)
		if used[name] {
			name = fmt.Sprintf("%s-%04d-%d.png", f.Frame.Task, f.Frame.Seq, f.Frame.CapturedAt)
		}
		used[name] = true
		if err := writePNG(filepath.Join(dir, name), &f.Frame); err != nil {
			return nil, err
		}
		idx.Frames = append(idx.Frames, indexFrame(name, f))
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, IndexFile), b, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("recording: export: %w", err)
	}
	return idx, nil
}

func indexFrame(name string, f *Frame) IndexFrame {
	fr := f.Frame
	return IndexFrame{File: name, Task: fr.Task, Sandbox: fr.Sandbox, Seq: fr.Seq, Model: f.Model,
		CapturedAt: fr.CaptureTime().UTC(), Width: fr.Width, Height: fr.Height, DisplayW: fr.DisplayW,
		DisplayH: fr.DisplayH, Scale: fr.Scale, CropX: fr.CropX, CropY: fr.CropY,
		Detections: f.Detections, Actions: f.Actions}
}

// writePNG writes the frame's image as PNG, converting other codecs.
func writePNG(path string, f *messages.Frame) error {
	data, err := framePNG(f)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("recording: export: %w", err)
	}
	return nil
}

// framePNG returns the frame's image as PNG, converting other codecs.
func framePNG(f *messages.Frame) ([]byte, error) {
	if f.Codec == messages.CodecPNG {
		return f.Data, nil
	}
	// The header first: a recorded frame comes from an agent, and a small
	// file claiming a huge image must not be decoded.
	cfg, _, err := image.DecodeConfig(bytes.NewReader(f.Data))
	if err == nil && (cfg.Width != f.Width || cfg.Height != f.Height) {
		err = fmt.Errorf("image is %dx%d, frame says %dx%d", cfg.Width, cfg.Height, f.Width, f.Height)
	}
	if err != nil {
		return nil, fmt.Errorf("recording: export frame %d: %w", f.Seq, err)
	}
	img, _, err := image.Decode(bytes.NewReader(f.Data))
	if err != nil {
		return nil, fmt.Errorf("recording: export frame %d: %w", f.Seq, err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("recording: export frame %d: %w", f.Seq, err)
	}
	return buf.Bytes(), nil
}
