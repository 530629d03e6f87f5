package sandbox

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// countingRuntime starts sandboxes that do nothing, and counts them.
type countingRuntime struct {
	mu      sync.Mutex
	started []string
	live    atomic.Int32
}

type idleSandbox struct {
	id   string
	rt   *countingRuntime
	done chan struct{}
	once sync.Once
}

func (rt *countingRuntime) Start(_ context.Context, spec Spec) (Sandbox, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.started = append(rt.started, spec.ID)
	rt.live.Add(1)
	return &idleSandbox{id: spec.ID, rt: rt, done: make(chan struct{})}, nil
}

func (s *idleSandbox) ID() string            { return s.id }
func (s *idleSandbox) Done() <-chan struct{} { return s.done }
func (s *idleSandbox) Err() error            { return nil }
func (s *idleSandbox) Stop(context.Context) error {
	s.once.Do(func() { close(s.done); s.rt.live.Add(-1) })
	return nil
}

func runPool(t *testing.T, cfg PoolConfig) (*Pool, *countingRuntime, func()) {
	t.Helper()
	rt := &countingRuntime{}
	n := atomic.Int32{}
	cfg.NewID = func() string { return fmt.Sprintf("warm-%d", n.Add(1)) }
	p := NewPool(rt, zerolog.New(zerolog.NewTestWriter(t)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx, cfg) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return p, rt, stop
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

func TestPoolHandsOutWarmSandboxesAndRefills(t *testing.T) {
	p, rt, stop := runPool(t, PoolConfig{MinIdle: 2, Spec: Spec{NATSURL: "nats://x"}})
	eventually(t, "two warm", func() bool { return rt.live.Load() == 2 })

	sb, err := p.Start(context.Background(), Spec{ID: "asked", NATSURL: "nats://x"})
	if err != nil || sb.ID() == "asked" {
		t.Fatalf("Start = %v, %v; want a warm sandbox", sb, err)
	}
	eventually(t, "refilled", func() bool { return rt.live.Load() == 3 })

	other, _ := p.Start(context.Background(), Spec{ID: "big", Width: 1920, Height: 1080, NATSURL: "nats://x"})
	if other.ID() != "big" {
		t.Errorf("a task of another size got warm sandbox %s", other.ID())
	}
	_ = sb.Stop(context.Background())
	_ = other.Stop(context.Background())
	stop()
	if n := rt.live.Load(); n != 0 {
		t.Errorf("%d sandboxes still running after the pool stopped", n)
	}
}

func TestPoolReplacesOldAndLetsGoWhenIdle(t *testing.T) {
	_, rt, _ := runPool(t, PoolConfig{MinIdle: 1, MaxLifetime: 50 * time.Millisecond})
	eventually(t, "replaced", func() bool {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return len(rt.started) >= 2
	})

	_, idle, _ := runPool(t, PoolConfig{MinIdle: 1, IdleTimeout: 50 * time.Millisecond})
	eventually(t, "let go after no demand", func() bool {
		idle.mu.Lock()
		defer idle.mu.Unlock()
		return len(idle.started) >= 1 && idle.live.Load() == 0
	})
}
