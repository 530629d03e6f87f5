package messages

import "time"

// Sandbox states as a dispatcher reports them.
const (
	SandboxStarting  = "starting"  // the runtime is creating it
	SandboxAssigning = "assigning" // handing the task to its agent
	SandboxRunning   = "running"   // its agent runs the task
	SandboxStopping  = "stopping"  // being torn down
)

// SandboxInfo describes one sandbox a dispatcher holds.
type SandboxInfo struct {
	ID      string    `json:"id" msgpack:"id"`
	State   string    `json:"state" msgpack:"state"`
	Task    string    `json:"task" msgpack:"task"`
	Attempt int       `json:"attempt" msgpack:"attempt"`
	Runtime string    `json:"runtime" msgpack:"runtime"`
	Started time.Time `json:"started" msgpack:"started"`
	// VNC is the address a VNC viewer can watch the display on, when the
	// runtime runs a VNC server and knows its address.
	VNC string `json:"vnc,omitempty" msgpack:"vnc,omitempty"`
	// Zombies counts the sandbox's exited processes that nothing reaped, and
	// ShmBytes is its /dev/shm size (field case C21); both are absent when
	// the runtime could not tell in time.
	Zombies  *int  `json:"zombies,omitempty" msgpack:"zombies,omitempty"`
	ShmBytes int64 `json:"shm_bytes,omitempty" msgpack:"shm_bytes,omitempty"`
}

// SandboxList is one dispatcher's answer on Subjects.SandboxList.
type SandboxList struct {
	V          int           `json:"v" msgpack:"v"`
	Dispatcher string        `json:"dispatcher" msgpack:"dispatcher"`
	Runtime    string        `json:"runtime" msgpack:"runtime"`
	Capacity   int           `json:"capacity" msgpack:"capacity"` // sandboxes it runs at once
	Sandboxes  []SandboxInfo `json:"sandboxes" msgpack:"sandboxes"`
}
