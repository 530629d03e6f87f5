package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/screenfleet/screenfleet/internal/kserve"
	"github.com/screenfleet/screenfleet/internal/ocr"
)

// buildInferd builds this command into a temporary directory.
func buildInferd(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found; this test builds the real binary")
	}
	bin := filepath.Join(t.TempDir(), "inferd")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinaryReexecsAndStopsOnSIGTERM runs the real binary without
// OMP_THREAD_LIMIT, configured through SF_ variables, and checks that it
// re-executed itself with the limit, serves, and exits 0 on SIGTERM.
func TestBinaryReexecsAndStopsOnSIGTERM(t *testing.T) {
	bin := buildInferd(t)
	cmd := exec.Command(bin, "--grpc-addr", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = append(withoutOMP(os.Environ()), "SF_HTTP_ADDR=127.0.0.1:0", "SF_OCR_WORKERS=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	events := logEvents(stderr)

	starting := nextEvent(t, events, "starting")
	if starting["omp_thread_limit"] != "1" {
		t.Errorf("starting event %v: want omp_thread_limit 1 after the re-exec", starting)
	}
	started := nextEvent(t, events, "started")
	if started["ocr_workers"] != 1.0 || started["component"] != "inferd" {
		t.Errorf("started event %v: want ocr_workers 1 from SF_OCR_WORKERS, component inferd", started)
	}
	assertServes(t, started["grpc_addr"].(string))

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, events, "stopped")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

func withoutOMP(env []string) []string {
	return slices.DeleteFunc(env, func(kv string) bool {
		return strings.HasPrefix(kv,
			ocr.ThreadLimitEnv+"=")
	})
}

func assertServes(t *testing.T, addr string) {
	t.Helper()
	c, err := kserve.Dial(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ready(t.Context(), "ocr"); err != nil {
		t.Fatalf("ready: %v", err)
	}
}

// logEvents decodes JSON log lines from r until it ends.
func logEvents(r io.Reader) <-chan map[string]any {
	ch := make(chan map[string]any)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				ch <- ev
			}
		}
	}()
	return ch
}

// nextEvent skips log lines until one with the given event field.
func nextEvent(t *testing.T, events <-chan map[string]any, name string) map[string]any {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("log ended before event %q", name)
			}
			if ev["event"] == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("no event %q within 30s", name)
		}
	}
}

func TestParseFlagsEnvFallback(t *testing.T) {
	t.Setenv("SF_GRPC_ADDR", "0.0.0.0:18001")
	t.Setenv("SF_OCR_WORKERS", "3")
	cfg, logs, err := parseFlags([]string{"--ocr-workers", "2", "--log-format", "console"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GRPCAddr != "0.0.0.0:18001" || cfg.OCRWorkers != 2 || cfg.HTTPAddr != "127.0.0.1:9101" ||
		cfg.MaxBatch != 8 || logs.Format != "console" || logs.Level != "info" {
		t.Fatalf("config %+v, logs %+v", cfg, logs)
	}
	if _, _, err := parseFlags([]string{"--ocr-workers", "many"}); err == nil {
		t.Fatal("bad flag value accepted")
	}
}

func TestParseFlagsDelayModel(t *testing.T) {
	t.Setenv("SF_DELAY_PER_ITEM", "5ms")
	cfg, _, err := parseFlags([]string{"--delay-base", "20ms"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Delay.Base != 20*time.Millisecond || cfg.Delay.PerItem != 5*time.Millisecond {
		t.Fatalf("delay config %+v", cfg.Delay)
	}
}
