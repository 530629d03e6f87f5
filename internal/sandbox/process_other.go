//go:build !linux

package sandbox

import (
	"context"
	"errors"

	"github.com/rs/zerolog"
)

// errNotLinux is returned by the process runtime where it cannot work: it
// relies on Linux process groups, /proc and parent-death signals.
var errNotLinux = errors.New("sandbox: the process runtime needs Linux")

// Process is the process runtime; it only works on Linux.
type Process struct{}

// NewProcess fails on this platform.
func NewProcess(ProcessConfig, zerolog.Logger) (*Process, error) { return nil, errNotLinux }

// Start fails on this platform.
func (*Process) Start(context.Context, Spec) (Sandbox, error) { return nil, errNotLinux }
