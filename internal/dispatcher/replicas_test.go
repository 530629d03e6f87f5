package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/dispatcher"
	"github.com/screenfleet/screenfleet/internal/taskstore"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// replicatedStreams are the streams a dispatcher makes with --replicas.
var replicatedStreams = []string{messages.TasksStream, dispatcher.DeadStream, "KV_" + messages.TasksBucket,
	messages.FramesStream, messages.RecordsStream}

func TestReplicasOnASingleServerFailStart(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(newFakeRuntime(t, e.url, always(agentOK)))
	cfg.Replicas = 3
	err := startErr(t, cfg)
	t.Logf("start error: %v", err)
	if !errors.Is(err, dispatcher.ErrReplicas) || !strings.Contains(err.Error(), "needs a NATS cluster") {
		t.Fatalf("start with 3 replicas on one server: %v; want ErrReplicas saying a cluster is needed", err)
	}
}

// TestReplicasAreRaisedNotLowered starts a dispatcher with 1 replica on a
// 3-node cluster, then one with 3, which raises every stream it made and
// runs a task; a third with 1 again is refused.
func TestReplicasAreRaisedNotLowered(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	url := startCluster(t)
	js := jsOn(t, url)
	rt := newFakeRuntime(t, url, always(agentOK))
	cfg := dispatcher.Config{NATSURL: url, AssignTimeout: 5 * time.Second, PullWait: 500 * time.Millisecond,
		Runtime: rt, Replicas: 1}
	if err := startErr(t, cfg); err != nil {
		t.Fatalf("start with 1 replica: %v", err)
	}

	cfg.Replicas = 3
	d := startCfg(t, cfg)
	for _, name := range replicatedStreams {
		if got := streamReplicas(t, js, name); got != 3 {
			t.Errorf("stream %s has %d replicas after a start with 3", name, got)
		}
	}
	waitFor(t, "the task consumer on 3 servers", 30*time.Second, func() bool {
		c, err := js.Consumer(context.Background(), messages.TasksStream, messages.TasksConsumer)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.Cluster != nil && len(info.Cluster.Replicas) == 2
	})
	if _, err := js.Publish(ctxFor(t, 10*time.Second), messages.NewSubjects("").TaskSubmit(),
		taskJSON("r3-1", 2, ""), jetstream.WithMsgID("r3-1")); err != nil {
		t.Fatal(err)
	}
	store := taskstore.New(mustKV(t, js))
	waitFor(t, "task r3-1 to succeed", 30*time.Second, func() bool {
		st, _, err := store.Get(context.Background(), "r3-1")
		return err == nil && st.State == messages.StateSucceeded && st.Dispatcher == d.ID()
	})
	if err := d.Stop(ctxFor(t, 40*time.Second)); err != nil {
		t.Fatal(err)
	}

	cfg.Replicas = 1
	err := startErr(t, cfg)
	t.Logf("start error: %v", err)
	if !errors.Is(err, dispatcher.ErrReplicas) || !strings.Contains(err.Error(), "has 3 replicas") {
		t.Fatalf("start with 1 replica on 3-replica streams: %v; want ErrReplicas naming the stream", err)
	}
}

// TestDispatchersStartTogetherOnACluster starts two dispatchers at once on
// a fresh 3-node cluster: the server can leave both creations of a
// replicated stream unanswered, and start-up must get past that.
func TestDispatchersStartTogetherOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	url := startCluster(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			cfg := dispatcher.Config{NATSURL: url, PullWait: 500 * time.Millisecond, Replicas: 3,
				Runtime: newFakeRuntime(t, url, always(agentOK))}
			errs <- startErr(t, cfg)
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("start together: %v", err)
		}
	}
}

// startErr starts a dispatcher, stops it at once, and returns Start's error.
func startErr(t *testing.T, cfg dispatcher.Config) error {
	t.Helper()
	d, err := dispatcher.New(cfg, zerolog.New(logWriter{t}))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctxFor(t, 90*time.Second)); err != nil {
		return err
	}
	return d.Stop(ctxFor(t, 40*time.Second))
}

func startCfg(t *testing.T, cfg dispatcher.Config) *dispatcher.Dispatcher {
	t.Helper()
	d, err := dispatcher.New(cfg, zerolog.New(logWriter{t}))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop(context.Background()) })
	return d
}

func streamReplicas(t *testing.T, js jetstream.JetStream, name string) int {
	t.Helper()
	s, err := js.Stream(ctxFor(t, 10*time.Second), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return s.CachedInfo().Config.Replicas
}

func mustKV(t *testing.T, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	kv, err := js.KeyValue(ctxFor(t, 10*time.Second), messages.TasksBucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// startCluster runs three JetStream servers in a cluster on loopback and
// returns their client URLs, comma-separated, once JetStream has a meta
// leader.
func startCluster(t *testing.T) string {
	t.Helper()
	var routes, urls []string
	ports := make([]int, 3)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	for i, port := range ports {
		s, err := server.NewServer(&server.Options{ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1",
			Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "sf-replicas", Host: "127.0.0.1", Port: port},
			Routes:  server.RoutesFromStr(strings.Join(routes, ","))})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		// A loaded 2-core machine can take over 10 s to have routes up.
		if !s.ReadyForConnections(45 * time.Second) {
			t.Fatalf("server n%d not ready", i+1)
		}
		urls = append(urls, s.ClientURL())
	}
	url := strings.Join(urls, ",")
	js := jsOn(t, url)
	waitFor(t, "a JetStream meta leader", 45*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil
	})
	return url
}

func jsOn(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
