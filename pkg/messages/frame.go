package messages

import (
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Codecs a frame payload may use.
const (
	CodecPNG  = "png"
	CodecJPEG = "jpeg"
	// CodecRaw is the screen's RGBA pixels compressed with zstd, in package
	// rawframe's format: ten times cheaper to encode than PNG.
	CodecRaw = "sfraw"
)

// Frame is one captured screen sent for inference.
//
// Boxes that come back are in the pixel space of Data. Width and Height are
// that space; DisplayW/H are the display's size; Scale and CropX/CropY say how
// Data was derived from the display, so display = crop + box/scale.
type Frame struct {
	V          int     `msgpack:"v"`
	Sandbox    string  `msgpack:"sandbox"`
	Task       string  `msgpack:"task"`
	Seq        uint64  `msgpack:"seq"`
	CapturedAt int64   `msgpack:"captured_at"` // unix nanoseconds
	LastAction uint64  `msgpack:"last_action"` // sequence of the last action applied before capture
	Codec      string  `msgpack:"codec"`
	Width      int     `msgpack:"width"`
	Height     int     `msgpack:"height"`
	DisplayW   int     `msgpack:"display_w"`
	DisplayH   int     `msgpack:"display_h"`
	Scale      float64 `msgpack:"scale"`
	CropX      int     `msgpack:"crop_x"`
	CropY      int     `msgpack:"crop_y"`
	Data       []byte  `msgpack:"data"`
	// Tiles, when set, hashes Data's pixels tile by tile, so a backend that
	// keeps results per sandbox can tell which regions changed since the
	// frame it last saw without decoding this one. Optional and additive:
	// readers that ignore it see the same frame.
	Tiles *TileGrid `msgpack:"tiles,omitempty"`
	// Ref, when set, says Data was too large for the NATS server's
	// max_payload and is in the JetStream object store instead; Data is
	// then empty (C14). Optional and additive like Tiles.
	Ref *FrameRef `msgpack:"ref,omitempty"`
	// Unsettled says the screen was still changing when the agent's wait
	// for it to settle after an action ran out (a spinner, an animation):
	// the frame may show a half-drawn page. Optional; absent means settled.
	Unsettled bool `msgpack:"unsettled,omitempty"`
}

// FramesBucket is the JetStream object store bucket that holds frames too
// large to travel inline on the inference subject.
const FramesBucket = "sf_frames"

// MaxFrameRefSize bounds the size a frame reference may claim: four times a
// raw 4K BGRA screen, so a reference can never make a worker fetch
// gigabytes.
const MaxFrameRefSize = 128 << 20

// FrameRef names an object that holds a frame's Data.
type FrameRef struct {
	Bucket string `msgpack:"bucket"`
	Name   string `msgpack:"name"`
	Size   int64  `msgpack:"size"` // bytes of Data, checked when fetched
}

// TileGrid is a grid of Size x Size pixel tiles over a Width x Height image,
// row by row; edge tiles are cut to the image. Hash holds one 64-bit hash of
// each tile's pixels (Cols*Rows of them): equal hashes mean unchanged tiles.
type TileGrid struct {
	Size   int      `msgpack:"size"`
	Width  int      `msgpack:"width"`
	Height int      `msgpack:"height"`
	Hash   []uint64 `msgpack:"hash"`
}

// Cols is the number of tile columns.
func (g *TileGrid) Cols() int { return (g.Width + g.Size - 1) / g.Size }

// Rows is the number of tile rows.
func (g *TileGrid) Rows() int { return (g.Height + g.Size - 1) / g.Size }

// Valid reports whether g's hashes match its dimensions.
func (g *TileGrid) Valid() bool {
	return g != nil && g.Size > 0 && g.Width > 0 && g.Height > 0 && len(g.Hash) == g.Cols()*g.Rows()
}

// Box is one thing found on a frame: a word, a line, a button.
type Box struct {
	X     int     `json:"x" msgpack:"x"`
	Y     int     `json:"y" msgpack:"y"`
	W     int     `json:"w" msgpack:"w"`
	H     int     `json:"h" msgpack:"h"`
	Text  string  `json:"text,omitempty" msgpack:"text,omitempty"`
	Class string  `json:"class,omitempty" msgpack:"class,omitempty"`
	Conf  float32 `json:"conf" msgpack:"conf"`
	Level string  `json:"level,omitempty" msgpack:"level,omitempty"` // "word" or "line"
	Line  int     `json:"line,omitempty" msgpack:"line,omitempty"`   // line number, shared by a line and its words
}

// CenterX is the horizontal centre of b.
func (b Box) CenterX() int { return b.X + b.W/2 }

// CenterY is the vertical centre of b.
func (b Box) CenterY() int { return b.Y + b.H/2 }

// Detection statuses. "ok" with no boxes means the model ran and found nothing.
const (
	StatusOK    = "ok"
	StatusError = "error"
)

// Detections is the reply to a Frame.
type Detections struct {
	V       int    `msgpack:"v"`
	Seq     uint64 `msgpack:"seq"` // the frame's sequence
	Model   string `msgpack:"model"`
	Worker  string `msgpack:"worker"`
	GPU     string `msgpack:"gpu"`
	Status  string `msgpack:"status"`
	Code    Code   `msgpack:"code,omitempty"`
	Error   string `msgpack:"error,omitempty"`
	Boxes   []Box  `msgpack:"boxes"`
	InferNs int64  `msgpack:"infer_ns"` // backend time
	QueueNs int64  `msgpack:"queue_ns"` // time the frame waited in the worker
}

// Err returns the error the detections carry, or nil.
func (d *Detections) Err() error {
	if d.Status == StatusOK {
		return nil
	}
	return FromWire(d.Code, d.Error)
}

// Validate checks the frame's fields before it is sent or after it is received.
func (f *Frame) Validate() error {
	switch {
	case f.Codec != CodecPNG && f.Codec != CodecJPEG && f.Codec != CodecRaw:
		return Errorf(CodeBadFrame, "frame codec %q: want png or jpeg or sfraw", f.Codec)
	case f.Width <= 0 || f.Height <= 0 || f.Width > MaxDisplaySide || f.Height > MaxDisplaySide:
		return Errorf(CodeBadFrame, "frame size %dx%d out of range", f.Width, f.Height)
	case f.Ref != nil && len(f.Data) > 0:
		return Errorf(CodeBadFrame, "frame has both inline data (%d bytes) and a reference", len(f.Data))
	case f.Ref != nil:
		return f.Ref.validate()
	case len(f.Data) == 0:
		return Errorf(CodeBadFrame, "frame data: empty")
	}
	return nil
}

func (r *FrameRef) validate() error {
	switch {
	case r.Bucket == "" || r.Name == "":
		return Errorf(CodeBadFrame, "frame reference: bucket %q and name %q must both be set", r.Bucket, r.Name)
	case r.Size <= 0 || r.Size > MaxFrameRefSize:
		return Errorf(CodeBadFrame, "frame reference %s/%s: size %d out of range (1 to %d bytes)",
			r.Bucket, r.Name, r.Size, MaxFrameRefSize)
	}
	return nil
}

// CaptureTime returns when the frame was captured.
func (f *Frame) CaptureTime() time.Time { return time.Unix(0, f.CapturedAt) }

// Encode writes v as msgpack.
func Encode(v any) ([]byte, error) {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

// Decode reads msgpack into v. The error names the type being decoded.
func Decode(data []byte, v any) error {
	if err := unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}

// unmarshal is msgpack.Unmarshal that returns an error where the library
// panics: vmihailenco/msgpack v5.4.1 panics decoding nil into a time.Time
// field (found by FuzzDecodeTaskStatus: {"updated_at": nil}).
func unmarshal(data []byte, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("msgpack: malformed input (%v)", p)
		}
	}()
	return msgpack.Unmarshal(data, v)
}

// DecodeFrame reads and validates a frame.
func DecodeFrame(data []byte) (Frame, error) {
	var f Frame
	if err := unmarshal(data, &f); err != nil {
		return Frame{}, Errorf(CodeBadFrame, "cannot decode frame: %v", err)
	}
	return f, f.Validate()
}
