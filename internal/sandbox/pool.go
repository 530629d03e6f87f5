package sandbox

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

const (
	// poolTick is how often the pool checks its warm sandboxes: retiring
	// an old one a second late costs nothing.
	poolTick = time.Second
	// poolStartTimeout bounds starting one warm sandbox, like the
	// dispatcher's own start timeout.
	poolStartTimeout = time.Minute
	// poolStopTimeout bounds stopping one warm sandbox.
	poolStopTimeout = 20 * time.Second
)

// PoolConfig configures a warm pool.
type PoolConfig struct {
	// MinIdle is how many started sandboxes wait for a task.
	MinIdle int
	// IdleTimeout lets the warm sandboxes go when no task has asked for
	// one that long, until the next task does; 0 keeps them always.
	IdleTimeout time.Duration
	// MaxLifetime replaces a warm sandbox older than this; 0 never does.
	MaxLifetime time.Duration
	// Spec is what warm sandboxes are started with; a task whose spec
	// differs (another display size) gets a sandbox of its own. ID is
	// replaced by NewID's.
	Spec Spec
	// NewID names each warm sandbox.
	NewID func() string
}

// Pool is a Runtime that keeps sandboxes started ahead of demand. Start
// hands out a warm sandbox when one fits, with its own id, which the caller
// uses from then on; otherwise it starts one as the wrapped runtime does.
// Until Run is called it only passes Start through.
type Pool struct {
	rt  Runtime
	log zerolog.Logger

	mu       sync.Mutex
	cfg      PoolConfig
	running  bool
	idle     []warmSandbox
	starting int
	demand   time.Time // last Start
	wake     chan struct{}
	starts   sync.WaitGroup
}

type warmSandbox struct {
	sb   Sandbox
	born time.Time
}

// NewPool returns a pool over rt that holds nothing until Run.
func NewPool(rt Runtime, log zerolog.Logger) *Pool {
	return &Pool{rt: rt, log: log, demand: time.Now(), wake: make(chan struct{}, 1)}
}

// Name returns the wrapped runtime's name.
func (p *Pool) Name() string {
	if n, ok := p.rt.(interface{ Name() string }); ok {
		return n.Name()
	}
	return "pool"
}

// Start returns a warm sandbox if one fits spec, else starts one.
func (p *Pool) Start(ctx context.Context, spec Spec) (Sandbox, error) {
	if sb := p.take(ctx, spec); sb != nil {
		p.log.Info().Str("event", "sandbox_taken").Str("sandbox", sb.ID()).
			Fields(labelFields(spec.Labels)).Msg("warm sandbox handed out")
		return sb, nil
	}
	return p.rt.Start(ctx, spec)
}

// take pops a live warm sandbox that fits spec, and notes the demand.
func (p *Pool) take(ctx context.Context, spec Spec) Sandbox {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.demand = time.Now()
	p.poke()
	if !p.running || !fits(p.cfg.Spec, spec) {
		return nil
	}
	for len(p.idle) > 0 {
		w := p.idle[0]
		p.idle = p.idle[1:]
		select {
		case <-w.sb.Done(): // died while waiting
			go p.retire(ctx, w.sb, "died while idle")
		default:
			return w.sb
		}
	}
	return nil
}

func fits(warm, spec Spec) bool {
	return orDefault(warm.Width, 1280) == orDefault(spec.Width, 1280) &&
		orDefault(warm.Height, 800) == orDefault(spec.Height, 800) &&
		warm.NATSURL == spec.NATSURL && warm.SubjectPrefix == spec.SubjectPrefix &&
		warm.Profile == spec.Profile
}

func (p *Pool) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}
