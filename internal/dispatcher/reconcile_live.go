package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// liveFirstWait bounds the wait for answers to the sandbox-list
	// request; this dispatcher answers it itself within milliseconds.
	liveFirstWait = 2 * time.Second
	// liveQuiet ends the wait once no other answer came for this long:
	// dispatchers on other hosts answer within a round trip.
	liveQuiet = 300 * time.Millisecond
)

// liveDispatchers learns, once per pass and only when asked, which
// dispatchers answer on Subjects.SandboxList.
type liveDispatchers struct {
	d   *Dispatcher
	ids map[string]bool
}

// has reports whether the dispatcher id answered.
func (l *liveDispatchers) has(ctx context.Context, id string) (bool, error) {
	if l.ids == nil {
		ids, err := l.d.askLive(ctx)
		if err != nil {
			return false, err
		}
		l.ids = ids
	}
	return l.ids[id], nil
}

// askLive sends one sandbox-list request and gathers who answers.
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
	ids := map[string]bool{d.cfg.ID: true}
	for wait := liveFirstWait; ; wait = liveQuiet {
		wctx, cancel := context.WithTimeout(ctx, wait)
		m, err := sub.NextMsgWithContext(wctx)
		cancel()
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
