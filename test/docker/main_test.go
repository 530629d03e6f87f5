// Package dockertest runs the docker runtime against the real engine: the
// dispatcher binary with --runtime docker, sandbox containers of the
// locally built image (make images), and inferd and a worker as local
// processes. NATS and the example site listen on the test network's
// gateway, which is how the sandboxes reach the host.
//
// The tests skip, saying why, where no engine answers or the sandbox image
// is missing.
package dockertest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/natsembed"
	"github.com/screenfleet/screenfleet/internal/sandbox"
)

// image is the sandbox image the tests run; SF_TEST_IMAGE overrides it.
var image = envOr("SF_TEST_IMAGE", sandbox.DefaultDockerImage)

// env is what every test shares: starting it (binaries, inferd) is slow.
type env struct {
	dir        string
	bin        string
	docker     *client.Client
	network    string
	gateway    string
	natsURL    string // from the host
	sandboxURL string // from the test network
	siteURL    string // from the test network
	nc         *nats.Conn
	js         jetstream.JetStream
}

var shared *env

func TestMain(m *testing.M) {
	flag.Parse()
	cli, reason := engine()
	if reason != "" {
		fmt.Println("docker: skipping:", reason)
		os.Exit(0)
	}
	code, err := runWithEnv(m, cli)
	if err != nil {
		fmt.Fprintln(os.Stderr, "docker:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// engine returns a client of a reachable engine that has the sandbox
// image, or why the tests cannot run.
func engine() (*client.Client, string) {
	if testing.Short() {
		return nil, "-short"
	}
	if _, err := exec.LookPath("tesseract"); err != nil {
		return nil, "tesseract is not installed (make deps installs it; inferd needs it)"
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, "no docker client: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		return nil, "no docker engine reachable: " + err.Error()
	}
	if _, err := cli.ImageInspect(ctx, image); err != nil {
		return nil, fmt.Sprintf("image %s is missing (make images builds it): %v", image, err)
	}
	return cli, ""
}

func runWithEnv(m *testing.M, cli *client.Client) (int, error) {
	dir, err := os.MkdirTemp("", "sf-docker-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	e := &env{dir: dir, bin: filepath.Join(dir, "bin"), docker: cli}
	cleanup, err := e.start()
	defer cleanup()
	if err != nil {
		return 0, err
	}
	shared = e
	return m.Run(), nil
}

// start brings up everything; the returned func undoes what was done,
// even after an error.
func (e *env) start() (func(), error) {
	var undo []func()
	cleanup := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	steps := []func() (func(), error){e.build, e.makeNetwork, e.startNATS, e.serveSite, e.startInference}
	for _, step := range steps {
		u, err := step()
		if u != nil {
			undo = append(undo, u)
		}
		if err != nil {
			return cleanup, err
		}
	}
	return cleanup, nil
}

func (e *env) build() (func(), error) {
	cmd := exec.Command("go", "build", "-o", e.bin+"/", "../../cmd/dispatcher", "../../cmd/worker",
		"../../cmd/inferd")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build: %w", err)
	}
	return nil, nil
}

// makeNetwork creates a network of the test's own, so that its gateway
// address is known before any dispatcher starts.
func (e *env) makeNetwork() (func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.network = "sf-test-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	if _, err := e.docker.NetworkCreate(ctx, e.network, network.CreateOptions{Driver: "bridge"}); err != nil {
		return nil, fmt.Errorf("create network: %w", err)
	}
	undo := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		e.removeContainers(ctx)
		_ = e.docker.NetworkRemove(ctx, e.network)
	}
	info, err := e.docker.NetworkInspect(ctx, e.network, network.InspectOptions{})
	if err != nil {
		return undo, err
	}
	for _, c := range info.IPAM.Config {
		if ip := net.ParseIP(c.Gateway); ip != nil && ip.To4() != nil {
			e.gateway = c.Gateway
		}
	}
	if e.gateway == "" {
		return undo, fmt.Errorf("network %s has no IPv4 gateway", e.network)
	}
	return undo, nil
}

// removeContainers removes every sandbox container on the test network.
func (e *env) removeContainers(ctx context.Context) {
	for _, c := range e.containers(ctx, "") {
		_ = e.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
}

// containers lists the sandbox containers on the test network, those of
// one dispatcher when id is set.
func (e *env) containers(ctx context.Context, dispatcherID string) []container.Summary {
	args := filters.NewArgs(filters.Arg("label", sandbox.LabelSandbox), filters.Arg("network", e.network))
	if dispatcherID != "" {
		args.Add("label", sandbox.LabelDispatcher+"="+dispatcherID)
	}
	list, err := e.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil
	}
	return list
}

func (e *env) startNATS() (func(), error) {
	srv, err := natsembed.Start(natsembed.Config{DataDir: filepath.Join(e.dir, "nats"), Host: "0.0.0.0"},
		zerolog.Nop())
	if err != nil {
		return nil, err
	}
	port := srv.ClientURL()[strings.LastIndex(srv.ClientURL(), ":")+1:]
	e.natsURL = "nats://127.0.0.1:" + port
	e.sandboxURL = "nats://" + net.JoinHostPort(e.gateway, port)
	if e.nc, err = nats.Connect(e.natsURL); err != nil {
		return srv.Shutdown, err
	}
	e.js, _ = jetstream.New(e.nc)
	return func() { e.nc.Close(); srv.Shutdown() }, nil
}

// serveSite serves the example pages on the gateway address.
func (e *env) serveSite() (func(), error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(e.gateway, "0"))
	if err != nil {
		return nil, fmt.Errorf("listen on the network's gateway: %w", err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir("../../examples/site")),
		ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	e.siteURL = "http://" + ln.Addr().String()
	return func() { _ = srv.Close() }, nil
}

// startInference runs inferd and one worker on the host.
func (e *env) startInference() (func(), error) {
	grpc, err := freeAddr()
	if err != nil {
		return nil, err
	}
	inferd, err := e.daemon("inferd", "--grpc-addr", grpc, "--http-addr", "127.0.0.1:0", "--log-format",
		"json")
	if err != nil {
		return nil, err
	}
	worker, err := e.daemon("worker", "--nats-url", e.natsURL, "--backend", grpc,
		"--http-addr", "127.0.0.1:0", "--log-format", "json")
	if err != nil {
		inferd.stop()
		return nil, err
	}
	return func() { worker.stop(); inferd.stop() }, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// proc is a daemon the tests started.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// daemon starts one of the built binaries with its log in the test dir.
func (e *env) daemon(name string, args ...string) (*proc, error) {
	logPath := filepath.Join(e.dir, fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano()))
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(filepath.Join(e.bin, name), args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "OMP_THREAD_LIMIT=1")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop sends SIGTERM and waits; SIGKILL after 30 s.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill sends SIGKILL and waits for the process to be reaped.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// logTail returns the end of the daemon's log.
func (p *proc) logTail(n int) string {
	b, _ := os.ReadFile(p.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

var errTimeout = errors.New("timed out")
