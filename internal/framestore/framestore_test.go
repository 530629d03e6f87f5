package framestore_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/internal/framestore"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

func startJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
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

// C14: what is put comes back byte-identical; a reference whose size does
// not match, that names another bucket, or whose object was deleted is a
// bad frame naming it; the bucket has a TTL and a size bound.
func TestPutGetDelete(t *testing.T) {
	js := startJS(t)
	store := framestore.New(js)
	data := make([]byte, 3<<20)
	_, _ = rand.Read(data)
	ref, err := store.Put(t.Context(), "sb-1.7.1", data)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Bucket != messages.FramesBucket || ref.Size != int64(len(data)) {
		t.Fatalf("ref %+v", *ref)
	}
	got, err := store.Get(t.Context(), ref)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %d bytes, equal %v, err %v", len(got), bytes.Equal(got, data), err)
	}
	for _, bad := range []messages.FrameRef{
		{Bucket: messages.FramesBucket, Name: ref.Name, Size: 5},
		{Bucket: "sf_tasks", Name: ref.Name, Size: ref.Size},
	} {
		if _, err := store.Get(t.Context(), &bad); !errors.Is(err, messages.ErrBadFrame) {
			t.Errorf("get %+v: %v, want a bad frame", bad, err)
		}
	}
	if err := store.Delete(t.Context(), ref.Name); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(t.Context(), ref.Name); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
	_, err = store.Get(t.Context(), ref)
	if !errors.Is(err, messages.ErrBadFrame) || !strings.Contains(err.Error(), "sf_frames/sb-1.7.1 not found") {
		t.Errorf("get after delete: %v", err)
	}
	bucket, err := js.ObjectStore(t.Context(), messages.FramesBucket)
	if err != nil {
		t.Fatal(err)
	}
	st, err := bucket.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != framestore.Config(1).TTL || st.TTL() <= 0 {
		t.Errorf("bucket TTL %s", st.TTL())
	}
}

// A frame bigger than any frame may be is refused before it is stored.
func TestPutRefusesHugeData(t *testing.T) {
	store := framestore.New(nil)
	_, err := store.Put(t.Context(), "x", make([]byte, messages.MaxFrameRefSize+1))
	if !errors.Is(err, messages.ErrFrameTooLarge) {
		t.Fatalf("put: %v, want ErrFrameTooLarge", err)
	}
}
