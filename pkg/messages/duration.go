package messages

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Duration is a time.Duration that reads and writes as a Go duration string
// ("20s", "2m") in both JSON and msgpack, so tasks stay pleasant to write.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON accepts a duration string, or a number of seconds; null
// leaves d as it was, as for any other field.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err2 := json.Unmarshal(b, &secs); err2 != nil {
			return fmt.Errorf("duration must be a string like \"20s\" or a number of seconds")
		}
		if secs < 0 {
			return fmt.Errorf("invalid duration %s: negative", b)
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	return d.parse(s)
}

// EncodeMsgpack writes d as a duration string.
func (d Duration) EncodeMsgpack(enc *msgpack.Encoder) error { return enc.EncodeString(d.String()) }

// DecodeMsgpack reads a duration string.
func (d *Duration) DecodeMsgpack(dec *msgpack.Decoder) error {
	s, err := dec.DecodeString()
	if err != nil {
		return fmt.Errorf("duration must be a string like \"20s\": %w", err)
	}
	return d.parse(s)
}

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (want a Go duration like \"5s\" or \"1m30s\")", s)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: negative", s)
	}
	*d = Duration(v)
	return nil
}
