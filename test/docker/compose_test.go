package dockertest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

const composeFile = "../../deploy/compose.yaml"

// compose runs docker-compose (or docker compose) on deploy/compose.yaml.
type compose struct {
	argv    []string
	project string
	env     []string
}

func newCompose(t *testing.T) *compose {
	t.Helper()
	argv := []string{"docker-compose"}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		argv = []string{"docker", "compose"}
		if exec.Command("docker", "compose", "version").Run() != nil {
			t.Skip("neither docker-compose nor docker compose is installed")
		}
	}
	return &compose{argv: append(argv, "-f", composeFile), project: "sfc" + strconv.Itoa(os.Getpid()),
		env: composePasswords}
}

// composePasswords are the role passwords deploy/nats.conf requires, the
// agents' secret, and the auth callout's issuer key (a fixed test key).
var composePasswords = []string{"SF_NATS_SUBMITTER_PASSWORD=sub-pw", "SF_NATS_DISPATCHER_PASSWORD=disp-pw",
	"SF_NATS_WORKER_PASSWORD=work-pw", "SF_NATS_AUTHORIZER_PASSWORD=authz-pw",
	"SF_AGENT_SECRET=compose-test-agent-secret",
	"SF_CALLOUT_SEED=SAAGN2ZEGEVZFX24IQHQDFIBAMTUNC2S2NNBARRO3VDHUZD65JLANTAAHQ",
	"SF_NATS_CALLOUT_ISSUER=ABLZ4RJYMNOJ6EEJVLGTMCQ4E6T7DCMSHYOXEGIPVQAZ7G44SDJQORH2"}

func (c *compose) run(ctx context.Context, args ...string) (string, error) {
	full := append(append(append([]string{}, c.argv[1:]...), "-p", c.project), args...)
	cmd := exec.CommandContext(ctx, c.argv[0], full...)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", c.argv[0], strings.Join(full, " "), err, out)
	}
	return string(out), nil
}

func TestComposeFileIsValid(t *testing.T) {
	c := newCompose(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, profile := range []string{"cpu", "gpu"} {
		out, err := c.run(ctx, "--profile", profile, "config")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"docker.sock", "nats.conf", "device_ids"} {
			if !strings.Contains(out, want) {
				t.Errorf("profile %s: %q missing from the resolved file", profile, want)
			}
		}
	}
	conf, err := os.ReadFile("../../deploy/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"jetstream", "max_payload: 8MB", "http_port"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("nats.conf lacks %q", want)
		}
	}
}

// TestComposeCPUStackRunsATask brings up NATS, the dispatcher, inferd and
// the CPU worker from deploy/compose.yaml with the local images, runs one
// task in a sandbox container the dispatcher starts, and tears it down.
func TestComposeCPUStackRunsATask(t *testing.T) {
	c := newCompose(t)
	for _, img := range []string{"dispatcher", "worker", "inferd", "nats"} {
		if _, err := shared.docker.ImageInspect(context.Background(), "screenfleet/"+img+":latest"); err != nil {
			t.Skipf("image screenfleet/%s is missing (make images builds it)", img)
		}
	}
	natsPort, monPort := freePort(t), freePort(t)
	netName := c.project + "-net"
	c.env = []string{"SF_NETWORK=" + netName, "SF_NATS_PORT=" + natsPort, "SF_NATS_MONITOR_PORT=" + monPort,
		"SF_DISPATCHER_ID=" + c.project, "SF_MAX_SANDBOXES=2"}
	c.env = append(c.env, composePasswords...)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	t.Cleanup(func() { c.down(t, netName) })
	if _, err := c.run(ctx, "--profile", "cpu", "up", "-d", "nats", "dispatcher", "inferd",
		"worker-cpu"); err != nil {
		t.Fatal(err)
	}

	js := connectJS(t, "nats://submitter:sub-pw@127.0.0.1:"+natsPort)
	site := serveOn(t, gateway(ctx, t, netName))
	id := taskID("compose")
	body := strings.ReplaceAll(string(task(id)), shared.siteURL, site)
	waitFor(t, "the dispatcher's TASKS stream", 2*time.Minute, func(ctx context.Context) bool {
		_, err := js.Stream(ctx, messages.TasksStream)
		return err == nil
	})
	began := time.Now()
	if _, err := js.Publish(ctx, messages.NewSubjects("").TaskSubmit(), []byte(body),
		jetstream.WithMsgID(id)); err != nil {
		t.Fatal(err)
	}
	var st messages.TaskStatus
	waitFor(t, "compose task final", taskLimit, func(ctx context.Context) bool {
		kv, err := js.KeyValue(ctx, messages.TasksBucket)
		if err != nil {
			return false
		}
		e, err := kv.Get(ctx, id)
		return err == nil && messages.Decode(e.Value(), &st) == nil && st.State.Final()
	})
	if st.State != messages.StateSucceeded {
		t.Fatalf("task %s: %s", st.State, st.Error)
	}
	t.Logf("compose stack: task succeeded %s after submission", time.Since(began).Round(10*time.Millisecond))
}

// down stops the stack: the dispatcher first, which removes its sandboxes,
// then whatever sandbox is left on the network, then the rest.
func (c *compose) down(t *testing.T, netName string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if t.Failed() {
		out, _ := c.run(ctx, "logs", "--no-color", "--tail", "40")
		t.Logf("compose logs:\n%s", out)
	}
	_, _ = c.run(ctx, "stop", "dispatcher")
	e := *shared
	e.network = netName
	e.removeContainers(ctx)
	if out, err := c.run(ctx, "--profile", "cpu", "down", "-v", "--remove-orphans"); err != nil {
		t.Errorf("compose down: %v\n%s", err, out)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func connectJS(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	var nc *nats.Conn
	waitFor(t, "NATS at "+url, time.Minute, func(context.Context) bool {
		var err error
		nc, err = nats.Connect(url)
		return err == nil
	})
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func gateway(ctx context.Context, t *testing.T, netName string) string {
	t.Helper()
	info, err := shared.docker.NetworkInspect(ctx, netName, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range info.IPAM.Config {
		if ip := net.ParseIP(cfg.Gateway); ip != nil && ip.To4() != nil {
			return cfg.Gateway
		}
	}
	t.Fatalf("network %s has no IPv4 gateway", netName)
	return ""
}

// serveOn serves the example site on host and returns its URL.
func serveOn(t *testing.T, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir("../../examples/site")), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
