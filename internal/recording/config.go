// Package recording keeps what every task run saw and did, and replays it.
//
// Two JetStream streams hold a recording. FRAMES keeps a copy of every
// frame an agent sends for inference, which the agent publishes on
// Subjects.Frame(task, sandbox). It does not capture the inference subjects
// themselves: a stream there counts as a responder, so a request for a
// model with no worker would wait for its timeout instead of failing at
// once with no responders, which the agents' retries rely on. RECORDS keeps
// what the agents publish on the record subjects: the detections each frame
// got, each target chosen with the frame it was based on and the point
// used, and the end of each run. Both are bounded by age and bytes; the
// oldest frames go first.
//
// Load reads a task's (or a sandbox's time range of) frames and records
// back, Replay sends the frames through today's workers and compares the
// answers with the recorded ones, and WriteReport and Export turn the result
// into an HTML page and PNG files.
package recording

import (
	"fmt"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Mode says which task runs are recorded.
type Mode string

// Recording modes of a fleet.
const (
	// ModeAll records every run, whatever its task asks.
	ModeAll Mode = "all"
	// ModeTask follows each task's record field (default: always).
	ModeTask Mode = "task"
	// ModeOff records nothing: the streams are not created.
	ModeOff Mode = "off"
)

// Defaults for the stream limits.
const (
	// DefaultMaxAge keeps a day of recordings: long enough to look at a
	// failure from the night before.
	DefaultMaxAge = 24 * time.Hour
	// DefaultMaxBytes bounds the frames at 2 GiB, about 10,000 PNG frames
	// of a 1280×800 browser page.
	DefaultMaxBytes = 2 << 30
)

// Config configures recording for a fleet.
type Config struct {
	// Mode is ModeAll, ModeTask or ModeOff; empty means ModeTask.
	Mode Mode
	// MaxAge drops frames older than this (records live four times as
	// long); 0 means DefaultMaxAge.
	MaxAge time.Duration
	// MaxBytes bounds the FRAMES stream; 0 means DefaultMaxBytes. RECORDS
	// gets a tenth of it, since records are small.
	MaxBytes int64
	// Replicas is the streams' replica count; 0 means 1.
	Replicas int
}

// withDefaults checks c and fills what it left out.
func (c Config) withDefaults() (Config, error) {
	switch c.Mode {
	case "":
		c.Mode = ModeTask
	case ModeAll, ModeTask, ModeOff:
	default:
		return c, fmt.Errorf("recording: mode %q: want all, task or off", c.Mode)
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	return c, nil
}

// Resolve returns the record mode a task runs with under fleet mode m.
func (m Mode) Resolve(task messages.RecordMode) messages.RecordMode {
	switch m {
	case ModeAll:
		return messages.RecordAlways
	case ModeOff:
		return messages.RecordNever
	}
	if task == "" {
		return messages.RecordAlways
	}
	return task
}
