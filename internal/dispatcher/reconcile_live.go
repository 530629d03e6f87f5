package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// liveWindow is how long one pass listens for the dispatchers'
	// answers to the sandbox-list request: a dispatcher answers within
	// milliseconds, a loaded one within a few hundred.
	liveWindow = time.Second
	// liveMisses is how many passes in a row a dispatcher must fail to
	// answer before its taskless sandboxes are removed: one slow answer
	// must not cost a live dispatcher its warm sandboxes.
	liveMisses = 3
)

// liveDispatchers tells which dispatchers stopped answering on
// Subjects.SandboxList. It asks at most once per pass, and only when asked.
type liveDispatchers struct {
	d       *Dispatcher
	misses  map[string]int // passes in a row without an answer, kept across passes
	ids     map[string]bool
	counted map[string]bool // owners whose misses this pass has counted
}

func newLiveDispatchers(d *Dispatcher) *liveDispatchers {
	return &liveDispatchers{d: d, misses: make(map[string]int)}
}

// newPass forgets the answers of the last pass.
func (l *liveDispatchers) newPass() {
	l.ids, l.counted = nil, make(map[string]bool)
}

// gone reports whether the dispatcher id has not answered for liveMisses
// passes in a row, this one included.
func (l *liveDispatchers) gone(ctx context.Context, id string) (bool, error) {
	if l.ids == nil {
		ids, err := l.d.askLive(ctx)
		if err != nil {
			return false, err
		}
		l.ids = ids
	}
	if !l.counted[id] {
		l.counted[id] = true
		if l.ids[id] {
			l.misses[id] = 0
		} else {
			l.misses[id]++
		}
	}
	return l.misses[id] >= liveMisses, nil
}

// askLive sends one sandbox-list request and gathers who answers within
// liveWindow.
func (d *Dispatcher) askLive(ctx context.Context) (map[string]bool, error) {
	inbox := d.nc.NewRespInbox()
	sub, err := d.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("reconcile: subscribe: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := d.nc.PublishRequest(d.subj.SandboxList(), inbox, nil); err != nil {
		return nil, fmt.Errorf("reconcile: ask the dispatchers: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, liveWindow)
	defer cancel()
	ids := map[string]bool{d.cfg.ID: true}
	for {
		m, err := sub.NextMsgWithContext(wctx)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return ids, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reconcile: gather the dispatchers: %w", err)
		}
		var list messages.SandboxList
		if messages.Decode(m.Data, &list) == nil && list.Dispatcher != "" {
			ids[list.Dispatcher] = true
		}
	}
}
