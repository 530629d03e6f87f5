package taskstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/internal/taskstore"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// TestReplicatedBucketConflicts repeats the claim race on a bucket with 3
// replicas, where the server reports revision conflicts with code 10164
// instead of 10071 (field case C18).
func TestReplicatedBucketConflicts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	urls := startCluster(t, 3)
	s, js := openReplicated(t, urls[0])
	ctx := testContext(t)
	mustCreate(t, s, queued("r1"))
	checkStaleCode(t, js)

	winners, odd := raceClaims(ctx, s, "r1", 50)
	if len(odd) > 0 || len(winners) != 1 {
		t.Fatalf("winners %v, unclassified errors %v; want one winner, no errors", winners, odd)
	}

	if err := s.Delete(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	var wins int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			_, err := s.Create(ctx, queued("r1"))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else if !errors.Is(err, taskstore.ErrExists) {
				odd = append(odd, err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || len(odd) > 0 {
		t.Fatalf("creators after delete: %d won, unclassified %v", wins, odd)
	}
}

// checkStaleCode writes with a stale revision straight through the client
// and checks that the error is the replicated code and is still classified
// as a conflict.
func checkStaleCode(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx := testContext(t)
	kv, err := js.KeyValue(ctx, messages.TasksBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "stale", []byte("a")); err != nil {
		t.Fatal(err)
	}
	_, err = kv.Update(ctx, "stale", []byte("b"), 1)
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("stale update: err = %v, want an API error", err)
	}
	t.Logf("stale update on 3 replicas: code %d", apiErr.ErrorCode)
	if !taskstore.IsConflict(err) {
		t.Fatalf("stale update error %v (code %d) not classified as conflict", err, apiErr.ErrorCode)
	}
}

// openReplicated opens the store with 3 replicas, retrying while the
// cluster elects its JetStream meta leader.
func openReplicated(t *testing.T, url string) (*taskstore.Store, jetstream.JetStream) {
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
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := taskstore.Open(ctx, js, 3)
		cancel()
		if err == nil {
			return s, js
		}
		if time.Now().After(deadline) {
			t.Fatalf("open replicated bucket: %v", err)
		}
		time.Sleep(200 * time.Millisecond) // polling interval while the cluster forms
	}
}

func startCluster(t *testing.T, n int) []string {
	t.Helper()
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range ports {
		ports[i] = freePort(t)
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[i])
	}
	urls := make([]string, n)
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "sf-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		// Generous: on a loaded 2-core machine a node took over 10 s to be
		// ready while its routes and JetStream meta group formed.
		if !s.ReadyForConnections(45 * time.Second) {
			t.Fatalf("server %d not ready", i+1)
		}
		urls[i] = s.ClientURL()
	}
	return urls
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
