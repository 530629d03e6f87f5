package daemon

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestParseFlagsEnvAndArgs(t *testing.T) {
	t.Setenv("SF_NATS_URL", "nats://from-env:4222")
	t.Setenv("SF_GPU", "3")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	url := fs.String("nats-url", "nats://default", "")
	gpu := fs.String("gpu", "cpu", "")
	if err := Parse(fs, []string{"--gpu", "1"}); err != nil {
		t.Fatal(err)
	}
	if *url != "nats://from-env:4222" || *gpu != "1" {
		t.Fatalf("flags over env over defaults: url %q gpu %q", *url, *gpu)
	}
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	if err := Parse(fs, []string{"stray"}); err == nil || !strings.Contains(err.Error(), "stray") {
		t.Fatalf("positional argument accepted: %v", err)
	}
}

func TestUsageExit(t *testing.T) {
	var buf bytes.Buffer
	if code, done := UsageExit("worker", nil, &buf); done || code != ExitOK {
		t.Fatal("nil error must go on")
	}
	if code, done := UsageExit("worker", flag.ErrHelp, &buf); !done || code != ExitOK {
		t.Fatal("help must exit 0")
	}
	if code, done := UsageExit("worker", errors.New("bad --gpu"), &buf); !done || code != ExitUsage ||
		!strings.Contains(buf.String(), "worker: bad --gpu") {
		t.Fatalf("usage error: %d %q", code, buf.String())
	}
}

func TestRunStopsOnSignal(t *testing.T) {
	started := make(chan struct{})
	done := make(chan int, 1)
	go func() {
		done <- Run(zerolog.Nop(), func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			return nil
		})
	}()
	<-started
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("exit %d after a clean stop", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not stop the run")
	}
	if Run(zerolog.Nop(), func(context.Context) error { return errors.New("boom") }) != ExitFail {
		t.Fatal("an error must exit 1")
	}
}
