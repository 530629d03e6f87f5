package sandbox

import "context"

// Health is what a sandbox tells of its own condition (field case C21),
// for `sfctl sandboxes`.
type Health struct {
	// Zombies counts the sandbox's processes that have exited and that no
	// parent has reaped. It stays near 0 when an init process reaps the
	// orphans Firefox leaves; without one they pile up until the pids
	// limit stops every fork.
	Zombies int
	// ShmBytes is the size of the sandbox's /dev/shm: Firefox's content
	// processes crash with Docker's default 64 MiB.
	ShmBytes int64
}

// HealthReporter is a Sandbox that can report its Health. Both runtimes'
// sandboxes are; ctx bounds the look.
type HealthReporter interface {
	Health(ctx context.Context) (Health, error)
}
