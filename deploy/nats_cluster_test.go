package deploy_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// routePassword is the test cluster's route password.
const routePassword = "route-secret"

// TestClusterConfForms starts three nodes from nats-cluster.conf on
// loopback, as three hosts would run it: each reads nats.conf's roles
// through the include, they form one cluster that places a stream with 3
// replicas, and a role is held to its permissions on another node.
func TestClusterConfForms(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	nodes := startClusterNodes(t)

	disp := dialRole(t, nodes[0], "dispatcher")
	djs, err := jetstream.New(disp)
	if err != nil {
		t.Fatal(err)
	}
	cfg := jetstream.StreamConfig{Name: "TASKS", Subjects: []string{"sf.tasks.submit"},
		Retention: jetstream.WorkQueuePolicy, Replicas: 3}
	var s jetstream.Stream
	waitUntil(t, "a stream with 3 replicas to be placed", 45*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s, err = djs.CreateOrUpdateStream(ctx, cfg)
		return err == nil
	})

	submitter := dialRole(t, nodes[2], "submitter")
	sjs, err := jetstream.New(submitter)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ack, err := sjs.Publish(ctx, "sf.tasks.submit", []byte(`{"id":"t1"}`)); err != nil || ack.Stream != "TASKS" {
		t.Fatalf("submit on another node: %v %+v", err, ack)
	}
	waitUntil(t, "the stream on 3 nodes with the task", 30*time.Second, func() bool {
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 1 && info.Cluster != nil && len(info.Cluster.Replicas) == 2
	})

	if err := submitter.Publish("$JS.API.STREAM.DELETE.TASKS", nil); err == nil {
		err = submitter.Flush()
		if last := submitter.LastError(); last != nil {
			err = last
		}
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Errorf("the submitter could delete the task stream on a cluster node (%v)", err)
		}
	}
}

// startClusterNodes parses nats-cluster.conf once per node, with the
// environment a deployment gives each, and starts the three nodes.
func startClusterNodes(t *testing.T) []*server.Server {
	t.Helper()
	for role, pw := range rolePasswords {
		t.Setenv("SF_NATS_"+strings.ToUpper(role)+"_PASSWORD", pw)
	}
	issuer, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := issuer.PublicKey()
	t.Setenv("SF_NATS_CALLOUT_ISSUER", pub)
	ports := make([]int, 3)
	var routes []string
	for i := range ports {
		ports[i] = freeTCPPort(t)
		routes = append(routes, fmt.Sprintf("nats://route:%s@127.0.0.1:%d", routePassword, ports[i]))
	}
	t.Setenv("SF_NATS_ROUTE_PASSWORD", routePassword)
	t.Setenv("SF_NATS_ROUTES", "["+strings.Join(routes, ", ")+"]")

	var nodes []*server.Server
	for i, port := range ports {
		name := fmt.Sprintf("nats-%d", i+1)
		t.Setenv("SF_NATS_SERVER_NAME", name)
		opts, err := server.ProcessConfigFile("nats-cluster.conf")
		if err != nil {
			t.Fatalf("parse nats-cluster.conf: %v", err)
		}
		checkClusterOpts(t, opts, name)
		opts.Port, opts.HTTPPort, opts.StoreDir = -1, 0, t.TempDir()
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", port
		opts.NoLog, opts.NoSigs = true, true
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("new server %s: %v", name, err)
		}
		srv.Start()
		t.Cleanup(srv.Shutdown)
		nodes = append(nodes, srv)
	}
	for _, srv := range nodes {
		// A loaded 2-core machine can take over 10 s to have routes up.
		if !srv.ReadyForConnections(45 * time.Second) {
			t.Fatalf("%s not ready", srv.Name())
		}
	}
	return nodes
}

// checkClusterOpts checks what the node took from each file.
func checkClusterOpts(t *testing.T, opts *server.Options, name string) {
	t.Helper()
	if opts.ServerName != name || opts.Cluster.Name != "screenfleet" || len(opts.Routes) != 3 ||
		opts.Cluster.Username != "route" || opts.Cluster.Password != routePassword || !opts.Cluster.NoAdvertise {
		t.Errorf("node %s: server name %q, cluster %q, %d routes, route user %q", name, opts.ServerName,
			opts.Cluster.Name, len(opts.Routes), opts.Cluster.Username)
	}
	if !opts.JetStream || opts.MaxPayload != 8<<20 || len(opts.Users) != len(rolePasswords) {
		t.Errorf("node %s lacks nats.conf's settings: jetstream %v, max_payload %d, %d users", name,
			opts.JetStream, opts.MaxPayload, len(opts.Users))
	}
}

func dialRole(t *testing.T, srv *server.Server, role string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(role, rolePasswords[role]),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatalf("connect as %s to %s: %v", role, srv.Name(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitUntil polls cond until it holds, or fails the test after limit.
func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
	}
}
