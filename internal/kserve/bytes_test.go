package kserve

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// C10: BYTES elements are a 4-byte little-endian length, then the bytes,
// concatenated; compared byte for byte with golden vectors for [""], ["a"],
// ["Ünï"], a 3-element tensor and one 70,000-byte element.
func TestEncodeBytesTensorGolden(t *testing.T) {
	big := bytes.Repeat([]byte{'x'}, 70000)
	tests := []struct {
		name  string
		elems [][]byte
		want  string // hex of the whole encoding
	}{
		{"empty string", [][]byte{{}}, "00000000"},
		{"one byte", [][]byte{[]byte("a")}, "0100000061"},
		{"utf8", [][]byte{[]byte("Ünï")}, "05000000c39c6ec3af"},
		{"three elements", [][]byte{[]byte("ab"), {}, []byte("c")}, "02000000616200000000" + "0100000063"},
		{"no elements", nil, ""},
		{"70000 bytes", [][]byte{big}, "70110100" + strings.Repeat("78", 70000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EncodeBytesTensor(tt.elems)
			want, _ := hex.DecodeString(tt.want)
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded %x..., want %x...", got[:min(len(got), 16)], want[:min(len(want), 16)])
			}
			size := 0
			for _, e := range tt.elems {
				size += 4 + len(e)
			}
			if len(got) != size {
				t.Fatalf("encoded %d bytes, want %d", len(got), size)
			}
			back, err := DecodeBytesTensor(got, len(tt.elems))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			assertElems(t, back, tt.elems)
		})
	}
}

func TestDecodeBytesTensorErrors(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		n    int
		want string
	}{
		{"short prefix", "0100", -1, "malformed BYTES tensor: element 0: 2 bytes left, too few for a length prefix"},
		{"truncated body", "05000000616263", -1, "malformed BYTES tensor: element 0 declares 5 bytes but 3 remain"},
		{"huge length", "ffffffff61", -1, "malformed BYTES tensor: element 0 declares 4294967295 bytes but 1 remain"},
		{"big-endian prefix", "0000000161", 1,
			"malformed BYTES tensor: element 0 declares 16777216 bytes but 1 remain"},
		{"trailing bytes", "01000000610000", -1, "malformed BYTES tensor: element 1: 2 bytes left, too few for a length prefix"},
		{"too many whole", "01000000610100000062", 1, "malformed BYTES tensor: more than the 1 elements expected"},
		{"too few", "0100000061", 2, "malformed BYTES tensor: 1 elements, want 2"},
		{"empty buffer, one wanted", "", 1, "malformed BYTES tensor: 0 elements, want 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			_, err = DecodeBytesTensor(raw, tt.n)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrMalformedTensor) {
				t.Errorf("error %v does not match ErrMalformedTensor", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error %q, want %q", err, tt.want)
			}
		})
	}
}

func TestDecodeBytesTensorAliasesWithoutOverrun(t *testing.T) {
	raw := EncodeBytesTensor([][]byte{[]byte("ab"), []byte("cd")})
	elems, err := DecodeBytesTensor(raw, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Appending to one element must not overwrite the next one's prefix.
	_ = append(elems[0], 'Z')
	if got := string(elems[1]); got != "cd" {
		t.Fatalf("second element %q after append to the first, want %q", got, "cd")
	}
}

// C10: truncated buffers and oversize lengths are errors, never panics, and
// what decodes encodes back to the same bytes.
func FuzzDecodeBytesTensor(f *testing.F) {
	f.Add([]byte{}, 0)
	f.Add(EncodeBytesTensor([][]byte{[]byte("Ünï"), {}}), 2)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1}, -1)
	f.Add([]byte{1, 0, 0}, 1)
	f.Fuzz(func(t *testing.T, raw []byte, n int) {
		elems, err := DecodeBytesTensor(raw, n)
		if err != nil {
			if !errors.Is(err, ErrMalformedTensor) {
				t.Fatalf("error %v does not match ErrMalformedTensor", err)
			}
			return
		}
		if n >= 0 && len(elems) != n {
			t.Fatalf("%d elements, asked for %d", len(elems), n)
		}
		if again := EncodeBytesTensor(elems); !bytes.Equal(again, raw) {
			t.Fatalf("re-encoding gives %x, input was %x", again, raw)
		}
	})
}

func assertElems(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d elements, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("element %d is %q, want %q", i, got[i], want[i])
		}
	}
}
