package telemetry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServe(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sf_test_things_total", Help: "things"})
	reg.MustRegister(c)
	c.Add(3)
	var notReady atomic.Bool
	notReady.Store(true)
	ready := func() error {
		if notReady.Load() {
			return errors.New("backend down")
		}
		return nil
	}
	s, err := Serve("127.0.0.1:0", reg, ready, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	base := "http://" + s.Addr()
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body,
		"sf_test_things_total 3") {
		t.Fatalf("metrics: %d %s", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "backend down") {
		t.Fatalf("readyz while not ready: %d %s", code, body)
	}
	notReady.Store(false)
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz when ready: %d", code)
	}
}

func TestServeEmptyAddr(t *testing.T) {
	s, err := Serve("", NewRegistry(), nil, zerolog.Nop())
	if err != nil || s != nil || s.Addr() != "" || s.Close(context.Background()) != nil {
		t.Fatal("empty address must serve nothing")
	}
}
