package framestore_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/internal/framestore"
)

// C14 under least privilege: with only the subjects above, an agent puts
// and deletes a frame and a worker reads it back; the worker cannot write.
func TestFramePermissions(t *testing.T) {
	perms := func(pub []string) *server.Permissions {
		return &server.Permissions{Publish: &server.SubjectPermission{Allow: pub},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}}}
	}
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true,
		StoreDir: t.TempDir(), Users: []*server.User{
			{Username: "dispatcher", Password: "d"},
			{Username: "agent", Password: "a", Permissions: perms(framestore.AgentSubjects())},
			{Username: "worker", Password: "w", Permissions: perms(framestore.WorkerSubjects())},
		}}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(ns.Shutdown)
	js := func(user, pw string) jetstream.JetStream {
		nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo(user, pw),
			nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})) // violations are expected
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		j, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	if err := framestore.Ensure(t.Context(), js("dispatcher", "d"), 1); err != nil {
		t.Fatal(err)
	}
	agent, worker := framestore.New(js("agent", "a")), framestore.New(js("worker", "w"))
	data := bytes.Repeat([]byte("frame"), 400_000)
	ref, err := agent.Put(t.Context(), "sb-1.1.1", data)
	if err != nil {
		t.Fatalf("agent put: %v", err)
	}
	got, err := worker.Get(t.Context(), ref)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("worker get: %d bytes, %v", len(got), err)
	}
	// A refused publish gets no acknowledgement: the put waits out its
	// context.
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, err := worker.Put(ctx, "forged", data); err == nil {
		t.Error("the worker could write a frame")
	}
	if err := agent.Delete(t.Context(), ref.Name); err != nil {
		t.Fatalf("agent delete: %v", err)
	}
	if _, err := worker.Get(t.Context(), ref); err == nil {
		t.Error("a deleted frame could still be read")
	}
}
