package messages

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// C14: the reference field is additive. A frame without one encodes to the
// same bytes as before it existed, and a reader that predates it still
// decodes a frame that carries one.
func TestFrameRefIsBackwardCompatible(t *testing.T) {
	type oldFrame struct {
		V     int    `msgpack:"v"`
		Seq   uint64 `msgpack:"seq"`
		Codec string `msgpack:"codec"`
		Data  []byte `msgpack:"data"`
	}
	withRef := Frame{V: Version, Seq: 9, Codec: CodecPNG, Width: 4, Height: 4,
		Ref: &FrameRef{Bucket: FramesBucket, Name: "sb/9", Size: 5 << 20}}
	b, err := Encode(&withRef)
	if err != nil {
		t.Fatal(err)
	}
	var old oldFrame
	if err := Decode(b, &old); err != nil {
		t.Fatalf("a reader without the ref field: %v", err)
	}
	if old.Seq != 9 || len(old.Data) != 0 {
		t.Errorf("old reader got seq %d and %d bytes, want 9 and none", old.Seq, len(old.Data))
	}
	back, err := DecodeFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Ref == nil || *back.Ref != *withRef.Ref {
		t.Errorf("ref decoded as %+v, want %+v", back.Ref, *withRef.Ref)
	}

	inline := Frame{V: Version, Seq: 1, Codec: CodecPNG, Width: 4, Height: 4, Data: []byte{1}}
	b, err = Encode(&inline)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("ref")) {
		t.Error("a frame without a reference carries a ref key")
	}
}

func TestFrameRefValidation(t *testing.T) {
	base := Frame{Codec: CodecPNG, Width: 4, Height: 4}
	tests := []struct {
		name string
		data []byte
		ref  *FrameRef
		want string
	}{
		{"both", []byte{1}, &FrameRef{Bucket: "b", Name: "n", Size: 1}, "both inline data (1 bytes) and a reference"},
		{"no name", nil, &FrameRef{Bucket: "b", Size: 1}, `bucket "b" and name "" must both be set`},
		{"zero size", nil, &FrameRef{Bucket: "b", Name: "n"}, "size 0 out of range"},
		{"huge size", nil, &FrameRef{Bucket: "b", Name: "n", Size: 1 << 40}, "size 1099511627776 out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := base
			f.Data, f.Ref = tt.data, tt.ref
			err := f.Validate()
			if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrBadFrame saying %q", err, tt.want)
			}
		})
	}
	f := base
	f.Ref = &FrameRef{Bucket: FramesBucket, Name: "n", Size: 10}
	if err := f.Validate(); err != nil {
		t.Errorf("a frame by reference: %v", err)
	}
}
