package messages

import (
	"bytes"
	"testing"
)

// An unsettled frame says so on the wire; a settled one encodes exactly as
// before the field existed, and an old frame reads as settled.
func TestFrameUnsettledIsAdditive(t *testing.T) {
	f := Frame{V: Version, Seq: 3, Codec: CodecRaw, Width: 2, Height: 2, Data: []byte{1}}
	settled, err := Encode(&f)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(settled, []byte("unsettled")) {
		t.Fatal("a settled frame carries the unsettled key")
	}
	f.Unsettled = true
	data, err := Encode(&f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeFrame(data)
	if err != nil || !got.Unsettled {
		t.Fatalf("unsettled frame decoded as %+v, %v", got, err)
	}
	if got, err := DecodeFrame(settled); err != nil || got.Unsettled {
		t.Fatalf("settled frame decoded as %+v, %v", got, err)
	}
}
