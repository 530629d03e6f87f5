// Package framestore keeps frames too large for the NATS server's
// max_payload in the JetStream object store bucket messages.FramesBucket, so
// that only a reference travels on the inference subject (field case C14).
// The agent puts, the worker gets, and the agent deletes once it has its
// reply; the bucket's TTL removes what an agent that died left behind.
package framestore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// ttl outlives any inference request with its retries (an agent step
	// times out well within it) and bounds what dead agents leave behind.
	ttl = 5 * time.Minute

	// maxBytes holds about 60 raw 1920x1080 frames (8.3 MB) at once.
	// Objects are deleted once answered, so only frames in flight count;
	// a full bucket refuses new frames rather than dropping held ones.
	maxBytes = 512 << 20
)

// Config is the bucket's configuration with the given replica count.
func Config(replicas int) jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      messages.FramesBucket,
		Description: "screenfleet frames over the NATS max_payload, by reference (C14)",
		TTL:         ttl,
		MaxBytes:    maxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	}
}

// Ensure creates the bucket, or brings an existing one's settings up to
// date. The dispatcher calls it at start so agents and workers find it.
func Ensure(ctx context.Context, js jetstream.JetStream, replicas int) error {
	if _, err := js.CreateOrUpdateObjectStore(ctx, Config(replicas)); err != nil {
		return fmt.Errorf("object store %s: %w", messages.FramesBucket, err)
	}
	return nil
}

// AgentSubjects are the subjects an agent publishes to put its frames in
// the bucket and delete them (chunks, metadata, the purge of a deleted
// object's chunks, and the reads a put makes first). deploy/nats.conf has
// no agent user: the auth callout grants these (internal/agentauth).
//
// Shortcoming: object chunk subjects carry a random id, not the sandbox,
// so an agent could overwrite or delete another sandbox's stored frame
// while it waits for its reply; it cannot read it without the worker's
// consumer subjects.
func AgentSubjects() []string {
	b := "OBJ_" + messages.FramesBucket
	return []string{
		"$O." + messages.FramesBucket + ".C.>", "$O." + messages.FramesBucket + ".M.>",
		"$JS.API.STREAM.INFO." + b, "$JS.API.STREAM.MSG.GET." + b, "$JS.API.DIRECT.GET." + b + ".>",
		"$JS.API.STREAM.PURGE." + b,
	}
}

// WorkerSubjects are the subjects a worker publishes to read a frame from
// the bucket; deploy/nats.conf's WORKER role lists them.
func WorkerSubjects() []string {
	b := "OBJ_" + messages.FramesBucket
	return []string{
		"$JS.API.STREAM.INFO." + b, "$JS.API.STREAM.MSG.GET." + b, "$JS.API.DIRECT.GET." + b + ".>",
		"$JS.API.CONSUMER.CREATE." + b + ".>", "$JS.API.CONSUMER.DELETE." + b + ".>", "$JS.FC." + b + ".>",
	}
}

// Store puts and gets frame data in the bucket. It opens the bucket on
// first use, creating it (one replica) when no dispatcher has yet.
type Store struct {
	js jetstream.JetStream

	mu     sync.Mutex
	bucket jetstream.ObjectStore
}

// New returns a Store that uses js.
func New(js jetstream.JetStream) *Store { return &Store{js: js} }

func (s *Store) open(ctx context.Context) (jetstream.ObjectStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bucket != nil {
		return s.bucket, nil
	}
	b, err := s.js.ObjectStore(ctx, messages.FramesBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		b, err = s.js.CreateObjectStore(ctx, Config(1))
		if errors.Is(err, jetstream.ErrBucketExists) {
			b, err = s.js.ObjectStore(ctx, messages.FramesBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", messages.FramesBucket, err)
	}
	s.bucket = b
	return b, nil
}

// Put stores data under name and returns the reference to send instead.
func (s *Store) Put(ctx context.Context, name string, data []byte) (*messages.FrameRef, error) {
	if len(data) > messages.MaxFrameRefSize {
		return nil, messages.Errorf(messages.CodeFrameTooLarge,
			"frame data of %d bytes exceeds the %d bytes a frame may have", len(data), messages.MaxFrameRefSize)
	}
	b, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := b.PutBytes(ctx, name, data); err != nil {
		return nil, fmt.Errorf("put frame %s/%s (%d bytes): %w", messages.FramesBucket, name, len(data), err)
	}
	return &messages.FrameRef{Bucket: messages.FramesBucket, Name: name, Size: int64(len(data))}, nil
}

// Get fetches the data ref names. A reference to another bucket, to an
// object that is gone, or whose size or digest does not match is an error
// with messages.CodeBadFrame naming it.
func (s *Store) Get(ctx context.Context, ref *messages.FrameRef) ([]byte, error) {
	if ref.Bucket != messages.FramesBucket {
		return nil, messages.Errorf(messages.CodeBadFrame, "frame reference to bucket %q: only %q is read",
			ref.Bucket, messages.FramesBucket)
	}
	b, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	info, err := b.GetInfo(ctx, ref.Name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, messages.Errorf(messages.CodeBadFrame,
			"frame data %s/%s not found: deleted, expired (TTL %s) or never stored", ref.Bucket, ref.Name, ttl)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: frame data %s/%s: %w", messages.ErrInferFailed, ref.Bucket, ref.Name, err)
	}
	if int64(info.Size) != ref.Size {
		return nil, messages.Errorf(messages.CodeBadFrame, "frame data %s/%s is %d bytes, the reference says %d",
			ref.Bucket, ref.Name, info.Size, ref.Size)
	}
	data, err := b.GetBytes(ctx, ref.Name)
	if err != nil {
		// GetBytes checks the object's SHA-256 digest.
		return nil, messages.Errorf(messages.CodeBadFrame, "frame data %s/%s: %v", ref.Bucket, ref.Name, err)
	}
	return data, nil
}

// Delete removes the object name; one already gone is not an error.
func (s *Store) Delete(ctx context.Context, name string) error {
	b, err := s.open(ctx)
	if err != nil {
		return err
	}
	if err := b.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("delete frame %s/%s: %w", messages.FramesBucket, name, err)
	}
	return nil
}
