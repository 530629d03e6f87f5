package sandbox

import (
	"context"
	"time"
)

// Run keeps cfg.MinIdle warm sandboxes until ctx ends, then stops those
// still idle. Call it once.
func (p *Pool) Run(ctx context.Context, cfg PoolConfig) {
	p.mu.Lock()
	p.cfg, p.running = cfg, true
	p.mu.Unlock()
	t := time.NewTicker(poolTick)
	defer t.Stop()
	for {
		p.tend(ctx)
		select {
		case <-t.C:
		case <-p.wake:
		case <-ctx.Done():
			p.drain(ctx)
			return
		}
	}
}

// tend retires what is too old or unwanted, then starts what is missing.
func (p *Pool) tend(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	want := p.cfg.MinIdle
	if p.cfg.IdleTimeout > 0 && time.Since(p.demand) > p.cfg.IdleTimeout {
		want = 0
	}
	kept := p.idle[:0]
	for _, w := range p.idle {
		switch {
		case len(kept) >= want:
			go p.retire(ctx, w.sb, "idle timeout")
		case p.cfg.MaxLifetime > 0 && time.Since(w.born) > p.cfg.MaxLifetime:
			go p.retire(ctx, w.sb, "max lifetime")
		case ended(w.sb):
			go p.retire(ctx, w.sb, "died while idle")
		default:
			kept = append(kept, w)
		}
	}
	p.idle = kept
	for n := len(p.idle) + p.starting; n < want; n++ {
		p.starting++
		p.starts.Add(1)
		go p.startWarm(context.WithoutCancel(ctx))
	}
}

func ended(sb Sandbox) bool {
	select {
	case <-sb.Done():
		return true
	default:
		return false
	}
}

// startWarm starts one warm sandbox and adds it to the idle ones.
func (p *Pool) startWarm(ctx context.Context) {
	defer p.starts.Done()
	spec := p.cfg.Spec
	spec.ID = p.cfg.NewID()
	sctx, cancel := context.WithTimeout(ctx, poolStartTimeout)
	sb, err := p.rt.Start(sctx, spec)
	cancel()

	p.mu.Lock()
	defer p.mu.Unlock()
	p.starting--
	if err != nil {
		p.log.Warn().Err(err).Str("event", "warm_start_failed").Msg("cannot start a warm sandbox")
		return
	}
	p.idle = append(p.idle, warmSandbox{sb: sb, born: time.Now()})
	p.log.Info().Str("event", "sandbox_warm").Str("sandbox", sb.ID()).Int("idle", len(p.idle)).
		Msg("warm sandbox ready")
}

// retire stops a warm sandbox the pool no longer wants, even when ctx has
// ended (shutdown): a sandbox is never left running.
func (p *Pool) retire(ctx context.Context, sb Sandbox, why string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), poolStopTimeout)
	defer cancel()
	err := sb.Stop(ctx)
	p.log.Info().Err(err).Str("event", "sandbox_retired").Str("sandbox", sb.ID()).Str("reason", why).
		Msg("warm sandbox retired")
}

// drain stops the idle sandboxes once the starts in progress have ended.
func (p *Pool) drain(ctx context.Context) {
	p.starts.Wait()
	p.mu.Lock()
	idle := p.idle
	p.idle, p.running = nil, false
	p.mu.Unlock()
	for _, w := range idle {
		p.retire(ctx, w.sb, "shutdown")
	}
}
