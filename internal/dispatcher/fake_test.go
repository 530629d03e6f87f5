package dispatcher_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/screenfleet/screenfleet/internal/sandbox"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// behaviour is what a fake agent does with its assignment.
type behaviour string

const (
	agentOK     behaviour = "ok"     // runs every step, reports success
	agentFail   behaviour = "fail"   // first step, then a target-not-found failure
	agentDie    behaviour = "die"    // first step, then the agent exits with status 2
	agentHang   behaviour = "hang"   // first step, then nothing until stopped
	agentRefuse behaviour = "refuse" // declines the assignment
	agentSilent behaviour = "silent" // never subscribes for assignments
	// agentCrashed: first step, then a sandbox failure, as agentd reports
	// its app on Firefox's tab crash page (C21).
	agentCrashed behaviour = "crashed"
)

// fakeRuntime starts sandboxes whose agent is a goroutine speaking our own
// agent protocol over a real NATS connection: answer the assignment, send
// progress requests, retry the final one until it is answered.
type fakeRuntime struct {
	t      *testing.T
	url    string
	behave func(attempt int) behaviour

	mu      sync.Mutex
	specs   []sandbox.Spec
	running int
}

func newFakeRuntime(t *testing.T, url string, behave func(attempt int) behaviour) *fakeRuntime {
	return &fakeRuntime{t: t, url: url, behave: behave}
}

func always(b behaviour) func(int) behaviour { return func(int) behaviour { return b } }

func (rt *fakeRuntime) Start(_ context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	nc, err := nats.Connect(spec.NATSURL)
	if err != nil {
		return nil, err
	}
	rt.mu.Lock()
	rt.specs = append(rt.specs, spec)
	rt.running++
	rt.mu.Unlock()
	sb := &fakeSandbox{rt: rt, spec: spec, nc: nc, subj: messages.NewSubjects(spec.SubjectPrefix),
		done: make(chan struct{}), stopped: make(chan struct{})}
	go sb.agent()
	return sb, nil
}

// starts returns how many sandboxes were started.
func (rt *fakeRuntime) starts() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return len(rt.specs)
}

// live returns how many sandboxes were started and not stopped.
func (rt *fakeRuntime) live() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.running
}

type fakeSandbox struct {
	rt   *fakeRuntime
	spec sandbox.Spec
	nc   *nats.Conn
	subj messages.Subjects

	once    sync.Once
	mu      sync.Mutex
	err     error
	done    chan struct{}
	stopped chan struct{}
	stop1   sync.Once
}

// fakeZombies is what every fake sandbox reports as its zombie count.
const fakeZombies = 3

// Health reports fakeZombies and a 1 GiB /dev/shm.
func (s *fakeSandbox) Health(context.Context) (sandbox.Health, error) {
	return sandbox.Health{Zombies: fakeZombies, ShmBytes: 1 << 30}, nil
}

func (s *fakeSandbox) ID() string            { return s.spec.ID }
func (s *fakeSandbox) Done() <-chan struct{} { return s.done }

func (s *fakeSandbox) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *fakeSandbox) end(err error) {
	s.once.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.done)
		s.nc.Close()
	})
}

func (s *fakeSandbox) Stop(context.Context) error {
	s.stop1.Do(func() {
		close(s.stopped)
		s.end(sandbox.ErrStopped)
		s.rt.mu.Lock()
		s.rt.running--
		s.rt.mu.Unlock()
	})
	return nil
}

// agent subscribes for the assignment a moment after start, as agentd does
// once it has connected, so the dispatcher meets no responders first.
func (s *fakeSandbox) agent() {
	select {
	case <-time.After(150 * time.Millisecond):
	case <-s.stopped:
		return
	}
	if s.behaviour(0) == agentSilent {
		return
	}
	_, err := s.nc.Subscribe(s.subj.Assign(s.spec.ID), func(m *nats.Msg) {
		var a messages.Assignment
		if err := messages.Decode(m.Data, &a); err != nil {
			s.rt.t.Errorf("fake agent: %v", err)
			return
		}
		b := s.behaviour(a.Attempt)
		reply, _ := messages.Encode(messages.AssignReply{V: 1, Accepted: b != agentRefuse,
			Code: messages.CodeInternal, Error: "busy"})
		_ = m.Respond(reply)
		if b != agentRefuse {
			go s.run(a, b)
		}
	})
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		s.rt.t.Errorf("fake agent subscribe: %v", err)
	}
}

func (s *fakeSandbox) behaviour(attempt int) behaviour {
	if attempt == 0 {
		attempt = 1
	}
	return s.rt.behave(attempt)
}

func (s *fakeSandbox) run(a messages.Assignment, b behaviour) {
	steps := len(a.Task.Steps)
	if b != agentOK {
		steps = 1
	}
	for i := range steps {
		st := messages.StepResult{Index: i, Action: a.Task.Steps[i].Action, OK: true, Detail: "done",
			Duration: messages.Duration(30 * time.Millisecond), Stages: map[string]messages.Duration{
				"capture": messages.Duration(time.Millisecond), "publish_to_reply": messages.Duration(20 * time.Millisecond),
				"sandbox-" + a.Sandbox: messages.Duration(time.Millisecond)}}
		if !s.report(a, messages.Progress{Step: st}) {
			return
		}
	}
	switch b {
	case agentOK:
		s.report(a, messages.Progress{Done: true, OK: true})
	case agentFail:
		s.report(a, messages.Progress{Done: true, Code: messages.CodeTargetNotFound,
			Error: `target text "Nope" not found`, Seen: []string{"Sign in", "Cancel"}})
	case agentCrashed:
		s.report(a, messages.Progress{Done: true, Code: messages.CodeSandboxFailed,
			Error: `step 1 (wait_for text "Sign in"): the app shows Firefox's tab crash page`})
	case agentDie:
		s.end(errors.New("agentd exited with status 2"))
	case agentHang:
		<-s.stopped
	}
}

// report sends one progress request and retries it until it is answered,
// like agentd; it returns false once the sandbox has ended.
func (s *fakeSandbox) report(a messages.Assignment, p messages.Progress) bool {
	p.V, p.Task, p.Sandbox, p.Attempt, p.Steps = 1, a.Task.ID, a.Sandbox, a.Attempt, len(a.Task.Steps)
	body, _ := messages.Encode(p)
	for {
		if _, err := s.nc.Request(s.subj.TaskProgress(a.Task.ID), body, time.Second); err == nil {
			return true
		}
		select {
		case <-s.done:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}
