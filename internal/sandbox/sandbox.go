// Package sandbox starts and stops the isolated environments tasks run in:
// a virtual display with an agent (agentd) on it. The dispatcher sees only
// the small Runtime and Sandbox interfaces; the process runtime here runs
// Xvfb and agentd as local child processes, and a container runtime can
// satisfy the same interfaces.
package sandbox

import (
	"context"
	"errors"
)

// ErrStopped is what Err reports for a sandbox that was stopped on request
// rather than dying on its own.
var ErrStopped = errors.New("sandbox stopped")

// Spec describes a sandbox to start.
type Spec struct {
	// ID names the sandbox; it is one subject token (the agent answers
	// assignments on Subjects.Assign(ID)).
	ID string
	// Width and Height are the display size in pixels.
	Width, Height int
	// NATSURL is the server the agent connects to.
	NATSURL string
	// SubjectPrefix is the deployment's subject prefix.
	SubjectPrefix string
	// Profile names the kind of sandbox (the task's app.profile); empty is
	// the runtime's default. A runtime that has no such profile refuses the
	// start with ErrUnknownProfile.
	Profile string
	// Labels describe what the sandbox is for (task, attempt, dispatcher).
	// Runtimes add them to their log lines, and a container runtime to
	// its container labels, so one sandbox's life can be found again.
	Labels map[string]string
}

// ErrUnknownProfile means a task asked for a sandbox profile the runtime
// does not have. Starting again will not help: the task is at fault.
var ErrUnknownProfile = errors.New("unknown sandbox profile")

// Runtime starts sandboxes.
type Runtime interface {
	// Start starts a sandbox and returns once its agent has been launched;
	// the agent may not be listening for assignments yet. ctx bounds the
	// start only, not the sandbox's life. On error nothing is left running.
	// The sandbox's ID may differ from spec.ID when it was started ahead
	// of time (a Pool's warm sandbox); the caller uses its ID from then on.
	Start(ctx context.Context, spec Spec) (Sandbox, error)
}

// Sandbox is one running sandbox.
type Sandbox interface {
	// ID returns the sandbox's id, as given in its Spec.
	ID() string
	// Done is closed when the sandbox has died or been stopped.
	Done() <-chan struct{}
	// Err says why the sandbox died, e.g. "agentd exited with status 2",
	// once Done is closed; ErrStopped after Stop; nil while it runs.
	Err() error
	// Stop tears the sandbox down and releases everything it held. It is
	// safe to call more than once and after the sandbox died; ctx bounds
	// the wait.
	Stop(ctx context.Context) error
}
