package agentauth

import (
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/natsconn"
)

// Serve connects to url (the authorizer user's) with opts and starts the
// service on that connection. stop drains the connection: requests already
// received are answered, then it closes.
func Serve(url string, opts []nats.Option, cfg Config, log zerolog.Logger) (stop func(), err error) {
	opts = append([]nats.Option{
		nats.Name("auth callout"),
		nats.MaxReconnects(-1), // agents cannot log in while this is away
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().Err(err).Str("event", "nats_disconnected").Msg("auth callout disconnected")
		}),
	}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("agentauth: connect to %s: %w", natsconn.Redact(url), err)
	}
	if _, err := Start(nc, cfg, log); err != nil {
		nc.Close()
		return nil, err
	}
	return func() {
		if err := nc.Drain(); err != nil {
			log.Warn().Err(err).Msg("stop auth callout")
		}
	}, nil
}
