package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// forgetTimeout bounds deleting a stored frame after its reply: a slow
// delete only leaves the object to the bucket's TTL.
const forgetTimeout = 2 * time.Second

// wireSize is what the server counts against max_payload: the encoded
// headers and the data.
func wireSize(msg *nats.Msg) int64 {
	n := len(msg.Data)
	if len(msg.Header) > 0 {
		n += len("NATS/1.0\r\n") + len("\r\n")
		for k, vs := range msg.Header {
			for _, v := range vs {
				n += len(k) + len(": ") + len(v) + len("\r\n")
			}
		}
	}
	return int64(n)
}

// byReference moves the data of the frame in msg to the object store and
// replaces msg's data with the frame carrying a reference (C14). It returns
// the object's name. A payload that is not a frame, an agent without a
// store, or a store that refuses the data make a messages.ErrFrameTooLarge
// error: the same frame would fail the same way on every retry.
func (c *inferClient) byReference(ctx context.Context, msg *nats.Msg, seq uint64,
	limit int64) (string, error) {
	tooLarge := func(why error) error {
		return messages.Errorf(messages.CodeFrameTooLarge,
			"frame %d of %d bytes exceeds the NATS server's max_payload of %d bytes: %v",
			seq, wireSize(msg), limit, why)
	}
	if c.frames == nil {
		return "", tooLarge(fmt.Errorf("no object store to send it by reference"))
	}
	var f messages.Frame
	if err := messages.Decode(msg.Data, &f); err != nil || len(f.Data) == 0 {
		return "", tooLarge(fmt.Errorf("not a frame with inline data"))
	}
	name := fmt.Sprintf("%s.%d.%d", f.Sandbox, f.Seq, f.CapturedAt)
	ref, err := c.frames.Put(ctx, name, f.Data)
	if err != nil {
		return "", tooLarge(err)
	}
	f.Data, f.Ref = nil, ref
	payload, err := messages.Encode(&f)
	if err != nil {
		c.forget(ctx, name)
		return "", fmt.Errorf("%w: %w", messages.ErrInternal, err)
	}
	out := &nats.Msg{Subject: msg.Subject, Header: msg.Header, Data: payload}
	if wireSize(out) > limit {
		c.forget(ctx, name)
		return "", tooLarge(fmt.Errorf("still %d bytes with its data by reference", wireSize(out)))
	}
	msg.Data = payload
	c.metrics.byReference.Inc()
	return name, nil
}

// forget deletes a stored frame once its request is over. A failure only
// leaves the object to the bucket's TTL, so it is not reported.
func (c *inferClient) forget(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), forgetTimeout)
	defer cancel()
	_ = c.frames.Delete(ctx, name)
}
