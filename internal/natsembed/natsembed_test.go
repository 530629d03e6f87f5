package natsembed_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/natsembed"
)

func TestStartServesJetStream(t *testing.T) {
	s, err := natsembed.Start(natsembed.Config{DataDir: t.TempDir()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)

	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := nc.MaxPayload(); got != natsembed.DefaultMaxPayload {
		t.Errorf("max payload = %d, want %d", got, natsembed.DefaultMaxPayload)
	}

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := js.AccountInfo(ctx)
	if err != nil {
		t.Fatalf("account info: %v", err)
	}
	if info.Limits.MaxStore == 0 {
		t.Errorf("jetstream has no store limit: %+v", info.Limits)
	}
}

func TestStartRequiresDataDir(t *testing.T) {
	if _, err := natsembed.Start(natsembed.Config{}, zerolog.Nop()); err == nil {
		t.Fatal("start without data dir succeeded")
	}
}

func TestShutdownIsIdempotent(t *testing.T) {
	s, err := natsembed.Start(natsembed.Config{DataDir: t.TempDir()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
	s.Shutdown()
	if _, err := nats.Connect(s.ClientURL(), nats.Timeout(time.Second)); err == nil {
		t.Fatal("connected after shutdown")
	}
}

func TestServerWarningsReachLogger(t *testing.T) {
	var buf bytes.Buffer
	// A payload above 8 MiB makes the server warn at start-up.
	cfg := natsembed.Config{DataDir: t.TempDir(), MaxPayload: 16 << 20}
	s, err := natsembed.Start(cfg, zerolog.New(&buf))
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
	if !bytes.Contains(buf.Bytes(), []byte(`"level":"warn"`)) {
		t.Fatalf("no warning logged; got %s", buf.String())
	}
}
