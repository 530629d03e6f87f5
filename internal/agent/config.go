package agent

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/screenfleet/screenfleet/pkg/actuate"
	"github.com/screenfleet/screenfleet/pkg/capture"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// DefaultInferTimeout bounds one inference request. Tesseract needs 0.3 s
// for a UI frame and up to 1.4 s for a dense page on one CPU core; 5 s
// leaves room for a frame queued behind a few others before it is retried.
const DefaultInferTimeout = 5 * time.Second

// Config configures the agent of one sandbox.
type Config struct {
	// NATSURL is the server to connect to, used when Conn is nil.
	NATSURL string
	// NATSOptions are extra dial options (TLS from natsconn), used when
	// Conn is nil.
	NATSOptions []nats.Option
	// Conn is an existing connection to use instead of dialling NATSURL
	// (when the agent is embedded). Run neither drains nor closes it.
	Conn *nats.Conn
	// Sandbox names the sandbox; it is a subject token. Required.
	Sandbox string
	// Display is the X display of the sandbox, such as ":3". Required.
	Display string
	// WorkDir holds the app's HOME, browser profiles and app logs. Empty
	// means screenfleet-agent-<sandbox> in the system's temporary directory.
	WorkDir string
	// SubjectPrefix begins every subject; empty means messages.DefaultPrefix.
	SubjectPrefix string
	// InferTimeout bounds one inference request; 0 means DefaultInferTimeout.
	InferTimeout time.Duration
	// HTTPAddr is where /metrics, /healthz and /readyz are served; empty
	// serves nothing.
	HTTPAddr string
	// FrameCodec is how frames are encoded: messages.CodecRaw (the
	// default: zstd-compressed pixels, about a millisecond) or
	// messages.CodecPNG (about ten, for backends that read only images).
	FrameCodec string
	// Registry receives the agent's metrics; nil means a fresh registry.
	Registry *prometheus.Registry
	// OpenScreen and OpenInput open the display for a task; nil means
	// pkg/capture and pkg/actuate.
	OpenScreen func(display string) (Screen, error)
	OpenInput  func(display string) (Input, error)
	// OnReady, if set, is called once the agent takes assignments, with
	// the address the HTTP endpoints listen on ("" when HTTPAddr is empty).
	OnReady func(httpAddr string)
}

// Screen is what the agent needs from a screen capturer; *capture.Capturer
// is one.
type Screen interface {
	Size() (w, h int)
	CaptureInto(ctx context.Context, dst *image.RGBA) error
	Close() error
}

// Input is what the agent needs from an input driver; *actuate.Actuator is
// one.
type Input interface {
	Click(ctx context.Context, x, y int, button actuate.Button) error
	DoubleClick(ctx context.Context, x, y int) error
	Scroll(ctx context.Context, x, y, dy int) error
	Type(ctx context.Context, text string) error
	Key(ctx context.Context, combo string) error
	Close() error
}

// withDefaults checks cfg and fills what it left out.
func (cfg Config) withDefaults() (Config, error) {
	if err := messages.CheckToken("sandbox", cfg.Sandbox); err != nil {
		return cfg, fmt.Errorf("agent: %w", err)
	}
	if cfg.Display == "" {
		return cfg, errors.New("agent: display: missing (the sandbox's X display, e.g. \":3\")")
	}
	if cfg.Conn == nil && cfg.NATSURL == "" {
		cfg.NATSURL = nats.DefaultURL
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = filepath.Join(os.TempDir(), "screenfleet-agent-"+cfg.Sandbox)
	}
	if cfg.InferTimeout <= 0 {
		cfg.InferTimeout = DefaultInferTimeout
	}
	switch cfg.FrameCodec {
	case "":
		cfg.FrameCodec = messages.CodecRaw
	case messages.CodecRaw, messages.CodecPNG:
	default:
		return cfg, fmt.Errorf("agent: frame codec %q: want %s or %s", cfg.FrameCodec, messages.CodecRaw,
			messages.CodecPNG)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.OpenScreen == nil {
		cfg.OpenScreen = func(d string) (Screen, error) { return capture.Open(d) }
	}
	if cfg.OpenInput == nil {
		cfg.OpenInput = func(d string) (Input, error) { return actuate.Open(d) }
	}
	return cfg, nil
}
