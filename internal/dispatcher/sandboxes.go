package dispatcher

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/screenfleet/screenfleet/internal/sandbox"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// fleet is what the dispatcher knows of the sandboxes it holds, for
// `sfctl sandboxes` and the sandbox gauges.
type fleet struct {
	runtime string
	mu      sync.Mutex
	boxes   map[string]*messages.SandboxInfo
	handles map[string]sandbox.Sandbox // started sandboxes, for their health
	health  map[string]*healthEntry
}

func newFleet(runtime string) *fleet {
	return &fleet{runtime: runtime, boxes: make(map[string]*messages.SandboxInfo),
		handles: make(map[string]sandbox.Sandbox), health: make(map[string]*healthEntry)}
}

// add records a sandbox that is being started for attempt n of task.
func (f *fleet) add(id, task string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.boxes[id] = &messages.SandboxInfo{ID: id, State: messages.SandboxStarting, Task: task,
		Attempt: n, Runtime: f.runtime, Started: time.Now()}
}

// started records what the runtime tells of a started sandbox.
func (f *fleet) started(sb sandbox.Sandbox) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.boxes[sb.ID()]
	if b == nil {
		return
	}
	f.handles[sb.ID()] = sb
	f.health[sb.ID()] = &healthEntry{}
	if v, ok := sb.(interface{ VNCAddr() string }); ok {
		b.VNC = v.VNCAddr()
	}
}

// set moves a sandbox to state.
func (f *fleet) set(id, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b := f.boxes[id]; b != nil {
		b.State = state
	}
}

func (f *fleet) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.boxes, id)
	delete(f.handles, id)
	delete(f.health, id)
}

// healthWait bounds how long a listing waits for fresh health looks: sfctl
// stops listening for more dispatchers 300 ms after the first answer, so a
// slower answer would be lost. A look not done by then (a docker exec on a
// busy host) goes on, and the listing carries the last one known.
const healthWait = 250 * time.Millisecond

// healthLimit bounds one look at a sandbox's health, wherever it came from.
const healthLimit = 10 * time.Second

// healthEntry is the last health look at one sandbox.
type healthEntry struct {
	h      sandbox.Health
	known  bool
	asking bool // a look is under way
}

// addHealth fills in the zombie count and /dev/shm size of the sandboxes
// whose runtime can tell (C21): it starts a look at each sandbox that has
// none under way, waits up to healthWait for them, and reports the latest
// known.
func (f *fleet) addHealth(infos []messages.SandboxInfo) {
	done := make(chan struct{}, len(infos))
	started := 0
	f.mu.Lock()
	for _, info := range infos {
		hr, ok := f.handles[info.ID].(sandbox.HealthReporter)
		e := f.health[info.ID]
		if !ok || e == nil || e.asking {
			continue
		}
		e.asking = true
		started++
		go f.lookHealth(info.ID, hr, e, done)
	}
	f.mu.Unlock()
	timer := time.NewTimer(healthWait)
	defer timer.Stop()
wait:
	for ; started > 0; started-- {
		select {
		case <-done:
		case <-timer.C:
			break wait
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range infos {
		if e := f.health[infos[i].ID]; e != nil && e.known {
			z := e.h.Zombies
			infos[i].Zombies, infos[i].ShmBytes = &z, e.h.ShmBytes
		}
	}
}

// lookHealth asks hr for its health and records the answer in e. It runs
// on past the listing that started it, so it has a context of its own.
func (f *fleet) lookHealth(id string, hr sandbox.HealthReporter, e *healthEntry, done chan<- struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), healthLimit)
	h, err := hr.Health(ctx)
	cancel()
	f.mu.Lock()
	e.asking = false
	if err == nil {
		e.h, e.known = h, true
	}
	f.mu.Unlock()
	done <- struct{}{}
}

// list returns the sandboxes, oldest first.
func (f *fleet) list() []messages.SandboxInfo {
	f.mu.Lock()
	out := make([]messages.SandboxInfo, 0, len(f.boxes))
	for _, b := range f.boxes {
		out = append(out, *b)
	}
	f.mu.Unlock()
	slices.SortFunc(out, func(a, b messages.SandboxInfo) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// counts returns how many sandboxes are in each state, every state included.
func (f *fleet) counts() map[string]int {
	out := map[string]int{messages.SandboxStarting: 0, messages.SandboxAssigning: 0,
		messages.SandboxRunning: 0, messages.SandboxStopping: 0}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.boxes {
		out[b.State]++
	}
	return out
}

// runtimeName names a runtime for listings and metric labels: its own
// Name when it has one.
func runtimeName(rt sandbox.Runtime) string {
	if n, ok := rt.(interface{ Name() string }); ok {
		return n.Name()
	}
	if _, ok := rt.(*sandbox.Process); ok {
		return "process"
	}
	return "unknown"
}

// serveSandboxList answers requests on Subjects.SandboxList with the
// sandboxes this dispatcher holds. Every dispatcher answers; the asker
// gathers the replies.
func (d *Dispatcher) serveSandboxList() error {
	sub, err := d.nc.Subscribe(d.subj.SandboxList(), func(m *nats.Msg) {
		infos := d.fleet.list()
		d.fleet.addHealth(infos)
		b, err := messages.Encode(messages.SandboxList{V: messages.Version, Dispatcher: d.cfg.ID,
			Runtime: d.fleet.runtime, Capacity: d.cfg.MaxSandboxes, Sandboxes: infos})
		if err != nil {
			d.log.Error().Err(err).Msg("cannot encode sandbox list")
			return
		}
		_ = m.Respond(b)
	})
	if err != nil {
		return fmt.Errorf("dispatcher: subscribe %s: %w", d.subj.SandboxList(), err)
	}
	d.listSub = sub
	return nil
}
