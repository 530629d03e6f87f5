//go:build linux

package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
	"github.com/rs/zerolog"
)

// testImage runs the shell command in $SF_TEST_CMD instead of a sandbox,
// so that each test can make its container die the way it needs.
const testImage = "screenfleet/sandbox-runtime-test:latest"

// dockerForTest returns a client of a reachable engine after building the
// test image from the Debian base, or skips.
func dockerForTest(t *testing.T) *client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("-short")
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Skip("no docker client:", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		t.Skip("no docker engine reachable:", err)
	}
	if _, err := cli.ImageInspect(ctx, "debian:bookworm"); err != nil {
		t.Skip("image debian:bookworm is missing (make images makes it):", err)
	}
	buildTestImage(ctx, t, cli)
	return cli
}

func buildTestImage(ctx context.Context, t *testing.T, cli *client.Client) {
	t.Helper()
	dockerfile := "FROM debian:bookworm\nENTRYPOINT [\"sh\", \"-c\", \"eval \\\"$SF_TEST_CMD\\\"\"]\n"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))})
	_, _ = tw.Write([]byte(dockerfile))
	_ = tw.Close()
	res, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{testImage}, Remove: true})
	if err != nil {
		t.Fatalf("build test image: %v", err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if strings.Contains(string(out), `"error"`) {
		t.Fatalf("build test image: %s", out)
	}
}

// runtimeForTest returns a docker runtime on a network of the test's own.
func runtimeForTest(t *testing.T, cfg DockerConfig) *Docker {
	t.Helper()
	cli := dockerForTest(t)
	cfg.Image = testImage
	cfg.Network = "sf-rt-test"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt, err := newDocker(ctx, cfg, cli, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rt.stopWatch()
		<-rt.watchDone
		// After the sandboxes' own cleanups (registered later, run first);
		// fails harmlessly while another runtime of the test still uses it.
		_ = cli.NetworkRemove(context.WithoutCancel(ctx), cfg.Network)
	})
	return rt
}

func startForTest(t *testing.T, rt *Docker, id, cmd string) Sandbox {
	t.Helper()
	rt.cfg.Env = []string{"SF_TEST_CMD=" + cmd}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sb, err := rt.Start(ctx, Spec{ID: id, NATSURL: "nats://127.0.0.1:4222",
		Labels: map[string]string{"task": "t-" + id, "dispatcher": "runtime-test"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Stop(context.Background()) })
	return sb
}

func waitDone(t *testing.T, sb Sandbox) error {
	t.Helper()
	select {
	case <-sb.Done():
		return sb.Err()
	case <-time.After(time.Minute):
		t.Fatal("sandbox did not end within a minute")
		return nil
	}
}

func TestDockerExitCodeEndsTheSandbox(t *testing.T) {
	rt := runtimeForTest(t, DockerConfig{})
	sb := startForTest(t, rt, "sb-exit-"+shortTestID(), "sleep 1; exit 3")
	err := waitDone(t, sb)
	if err == nil || !strings.Contains(err.Error(), "exited with code 3") {
		t.Fatalf("Err = %v, want exited with code 3", err)
	}
}

func TestDockerOOMKillIsTheReason(t *testing.T) {
	rt := runtimeForTest(t, DockerConfig{Memory: 32 << 20})
	// dd reads into one buffer of 256 MiB.
	sb := startForTest(t, rt, "sb-oom-"+shortTestID(), "dd if=/dev/zero of=/dev/null bs=256M count=1")
	err := waitDone(t, sb)
	if !errors.Is(err, ErrOOMKilled) {
		t.Fatalf("Err = %v, want OOM-killed", err)
	}
}

func TestDockerStopRemovesAndLeftoversListOthers(t *testing.T) {
	rt := runtimeForTest(t, DockerConfig{VNC: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	held := startForTest(t, rt, "sb-held-"+shortTestID(), "sleep 600")
	if held.(*dockerSandbox).VNCAddr() == "" {
		t.Error("no VNC address published")
	}

	// Another runtime (a restarted dispatcher) sees the container as a
	// leftover, and can remove it; its owner does not list it.
	other := runtimeForTest(t, DockerConfig{})
	if found := findLeftover(ctx, t, rt, held.ID()); found != "" {
		t.Errorf("the runtime holding %s lists it as a leftover", held.ID())
	}
	container := findLeftover(ctx, t, other, held.ID())
	if container == "" {
		t.Fatalf("%s not among the other runtime's leftovers", held.ID())
	}
	if err := other.Remove(ctx, container); err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, held); err == nil {
		t.Error("a removed container's sandbox reports no reason")
	}
	if err := held.Stop(ctx); err != nil {
		t.Errorf("Stop after removal: %v", err)
	}
}

func findLeftover(ctx context.Context, t *testing.T, rt *Docker, sandbox string) string {
	t.Helper()
	list, err := rt.Leftovers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range list {
		if l.Sandbox == sandbox {
			return l.Container
		}
	}
	return ""
}

func shortTestID() string { return time.Now().Format("150405.000000")[7:] }

// TestDockerTooOldEngineFailsOnce checks that an engine older than the
// oldest supported API fails start-up at once with a plain message (C19),
// against a fake daemon that answers only the ping.
func TestDockerTooOldEngineFailsOnce(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Api-Version", "1.38")
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			_, _ = w.Write([]byte("OK"))
			return
		}
		http.Error(w, `{"message":"client version is too new"}`, http.StatusBadRequest)
	}))
	defer srv.Close()
	cli, err := client.NewClientWithOpts(client.WithHost("tcp://"+srv.Listener.Addr().String()),
		client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = newDocker(ctx, DockerConfig{}, cli, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "older than 1.41") {
		t.Fatalf("newDocker = %v, want an error naming the oldest supported API", err)
	}
	if n := calls.Load(); n > 2 {
		t.Errorf("%d calls to the engine; start-up should give up after the ping", n)
	}
}
