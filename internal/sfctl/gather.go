package sfctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

const (
	// gatherWait bounds the wait for the first answer of a scatter-gather
	// request: a dispatcher or worker answers in milliseconds when it is up.
	gatherWait = 2 * time.Second

	// gatherQuiet is how long to keep listening after an answer for more
	// answerers; replies from one host's processes come within a few ms,
	// from other hosts within a round trip.
	gatherQuiet = 300 * time.Millisecond
)

// errNoAnswer means nobody answered a scatter-gather request.
var errNoAnswer = errors.New("no answer")

// gather publishes an empty request on subject and returns every reply that
// arrives until gatherQuiet passes without one. It returns errNoAnswer when
// nothing answers within gatherWait.
func gather(ctx context.Context, nc *nats.Conn, subject string) ([][]byte, error) {
	inbox := nc.NewRespInbox()
	ch := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", inbox, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		return nil, fmt.Errorf("request %s: %w", subject, err)
	}
	var out [][]byte
	timer := time.NewTimer(gatherWait)
	defer timer.Stop()
	for {
		select {
		case m := <-ch:
			if noResponders(m) {
				return nil, errNoAnswer
			}
			out = append(out, m.Data)
			timer.Reset(gatherQuiet)
		case <-timer.C:
			if len(out) == 0 {
				return nil, errNoAnswer
			}
			return out, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// noResponders reports whether m is the server's status message saying
// that nobody subscribes to the request's subject.
func noResponders(m *nats.Msg) bool {
	return len(m.Data) == 0 && m.Header.Get("Status") == "503" // nats.go's status header
}
