package xvfb_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/screenfleet/screenfleet/internal/xvfb"
)

func start(t *testing.T) *xvfb.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := xvfb.Start(ctx, 320, 240)
	if errors.Is(err, xvfb.ErrNotInstalled) {
		t.Skipf("Xvfb is not installed (apt-get install xvfb): %v", err)
	}
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

func socketPath(s *xvfb.Server) string {
	return fmt.Sprintf("/tmp/.X11-unix/X%d", s.Number())
}

func lockPath(s *xvfb.Server) string {
	return fmt.Sprintf("/tmp/.X%d-lock", s.Number())
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestStartAcceptsConnections(t *testing.T) {
	s := start(t)
	if s.Display() != fmt.Sprintf(":%d", s.Number()) {
		t.Fatalf("Display() = %q, Number() = %d", s.Display(), s.Number())
	}
	conn, err := net.Dial("unix", socketPath(s))
	if err != nil {
		t.Fatalf("dial display socket: %v", err)
	}
	conn.Close()
}

func TestStopKillsAndCleansUp(t *testing.T) {
	s := start(t)
	pid := s.Pid()
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process %d still exists after Stop: kill(0) = %v", pid, err)
	}
	for _, p := range []string{lockPath(s), socketPath(s)} {
		if exists(p) {
			t.Errorf("%s left behind", p)
		}
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

// A server killed with SIGKILL cannot clean up; Stop must do it.
func TestStopRemovesLeftoversOfKilledServer(t *testing.T) {
	s := start(t)
	if err := syscall.Kill(s.Pid(), syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	<-s.Done()
	if !exists(socketPath(s)) {
		t.Fatalf("expected SIGKILL to leave %s behind", socketPath(s))
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for _, p := range []string{lockPath(s), socketPath(s)} {
		if exists(p) {
			t.Errorf("%s left behind", p)
		}
	}
}

func TestServersGetDistinctDisplays(t *testing.T) {
	a, b := start(t), start(t)
	if a.Number() == b.Number() {
		t.Fatalf("both servers on display %d", a.Number())
	}
}

func TestStartHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := xvfb.Start(ctx, 320, 240)
	if errors.Is(err, xvfb.ErrNotInstalled) {
		t.Skip("Xvfb is not installed")
	}
	if err == nil {
		_ = s.Stop()
		t.Fatal("Start with a cancelled context succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestStartReportsServerFailure(t *testing.T) {
	_, err := xvfb.StartConfig(context.Background(), xvfb.Config{
		Width: 320, Height: 240, Binary: "false",
	})
	if err == nil {
		t.Fatal("Start with a binary that exits succeeded")
	}
}

func TestStartRejectsBadSize(t *testing.T) {
	if _, err := xvfb.Start(context.Background(), 0, 240); err == nil {
		t.Fatal("Start with width 0 succeeded")
	}
}

func TestMissingBinary(t *testing.T) {
	_, err := xvfb.StartConfig(context.Background(), xvfb.Config{
		Width: 1, Height: 1, Binary: "/nonexistent/Xvfb",
	})
	if !errors.Is(err, xvfb.ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
}
