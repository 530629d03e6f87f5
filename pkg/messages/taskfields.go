package messages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// UnknownField is a field of a task that no version of this code reads.
// DESIGN.md has unknown fields ignored, so that tasks written for a newer
// dispatcher still run on an older one; a person submitting a task still
// wants to hear that "deadlin" was not read.
type UnknownField struct {
	// Path is the object holding the field: "" for the task itself,
	// "steps[2]", "steps[2].target", "app".
	Path string
	// Name is the field as it was written.
	Name string
	// Suggest is the known field at that place the name looks like a typo
	// of, or "".
	Suggest string
}

// String describes the field: `steps[2]: unknown field "taget"`.
func (u UnknownField) String() string {
	s := fmt.Sprintf("unknown field %q", u.Name)
	if u.Path != "" {
		s = u.Path + ": " + s
	}
	return s
}

// hint is the field as a note appended to an error at the same level:
// `unknown field "taget" (a typo of "target"?)`.
func (u UnknownField) hint() string {
	s := fmt.Sprintf("unknown field %q", u.Name)
	if u.Suggest != "" {
		s += fmt.Sprintf(" (a typo of %q?)", u.Suggest)
	}
	return s
}

// fieldWalk compares a generically decoded task (from JSON or msgpack)
// with the Task type's field tags, so the known names cannot drift from the
// struct. It collects unknown fields and the first value that the typed
// decoder would refuse, with its path, which that decoder cannot give
// (encoding/json drops list indices from its paths, and an error from a
// field's own decoder carries no path at all).
type fieldWalk struct {
	tag     string // "json" or "msgpack"
	unknown []UnknownField
	err     *fieldError
}

// fieldError is something wrong with one field of a task. path says where
// ("steps[0].target"), text is the whole message, starting with the path.
type fieldError struct {
	path, text string
}

func fieldErrorf(path, format string, args ...any) *fieldError {
	return &fieldError{path: path, text: path + ": " + fmt.Sprintf(format, args...)}
}

var durationType = reflect.TypeFor[Duration]()

// knownField is one field of a struct as the wire names it.
type knownField struct {
	name string
	typ  reflect.Type
}

// fieldsOf lists t's wire fields in declaration order, named by tag.
func fieldsOf(t reflect.Type, tag string) []knownField {
	var out []knownField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get(tag), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, knownField{name: name, typ: f.Type})
	}
	return out
}

// object checks m, an object decoded from JSON for a struct of type t at
// path. Keys are taken in sorted order, so the first error is the same on
// every run.
func (w *fieldWalk) object(m map[string]any, t reflect.Type, path string) {
	known := fieldsOf(t, w.tag)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if f, ok := match(k, known); ok {
			w.value(m[k], f.typ, join(path, f.name))
		} else {
			w.unknown = append(w.unknown, UnknownField{Path: path, Name: k, Suggest: suggest(k, known)})
		}
	}
}

// match finds the field encoding/json decodes the key k into: the one named
// k exactly, else one equal to it under case folding.
func match(k string, known []knownField) (knownField, bool) {
	for _, f := range known {
		if f.name == k {
			return f, true
		}
	}
	for _, f := range known {
		if strings.EqualFold(f.name, k) {
			return f, true
		}
	}
	return knownField{}, false
}

// value checks v, decoded for a field of type t at path.
func (w *fieldWalk) value(v any, t reflect.Type, path string) {
	if v == nil {
		return // null leaves a field as it was, in both decoders
	}
	if t == durationType {
		w.duration(v, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		w.value(v, t.Elem(), path)
	case reflect.Struct:
		if m, ok := v.(map[string]any); ok {
			w.object(m, t, path)
		} else {
			w.wrongType(path, "an object", v)
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			w.wrongType(path, "a list", v)
			return
		}
		for i, e := range list {
			w.value(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			w.wrongType(path, "a string", v)
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if f, ok := v.(float64); ok && f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
			return
		}
		w.wrongType(path, "a whole number", v)
	}
}

// duration checks a Duration field: a Go duration string, or (in JSON) a
// number of seconds; never negative.
func (w *fieldWalk) duration(v any, path string) {
	switch d := v.(type) {
	case string:
		var parsed Duration
		if err := parsed.parse(d); err != nil {
			w.fail(fieldErrorf(path, "%s", err.Error()))
		}
	case float64: // JSON only: seconds
		if d < 0 {
			w.fail(fieldErrorf(path, "invalid duration %s: negative", strconv.FormatFloat(d, 'g', -1, 64)))
		}
	default:
		w.wrongType(path, `a duration like "20s" or a number of seconds`, v)
	}
}

// wrongType records a value of the wrong kind. Only JSON is checked here:
// msgpack has many encodings of one kind (array-encoded structs, typed
// integers), and its own decoder judges them.
func (w *fieldWalk) wrongType(path, want string, v any) {
	if w.tag == "json" {
		w.fail(fieldErrorf(path, "want %s, got %s", want, describeValue(v)))
	}
}

func (w *fieldWalk) fail(e *fieldError) {
	if w.err == nil {
		w.err = e
	}
}

func isNumber(v any) bool {
	switch v.(type) {
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64, int, uint, float32, float64:
		return true
	}
	return false
}

// describeValue names a decoded value for an error, quoting a short string.
func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		if utf8.RuneCountInString(x) > 40 {
			x = string([]rune(x)[:40]) + "…"
		}
		return fmt.Sprintf("string %q", x)
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return "number " + strconv.FormatFloat(x, 'g', -1, 64)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	if isNumber(v) {
		return fmt.Sprintf("number %v", v)
	}
	return fmt.Sprintf("%T", v)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// parentPath is the object holding the field at path: "steps[0]" for
// "steps[0].target", "app" for "app.width", "" for "steps".
func parentPath(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		if path[i] == '[' {
			return parentPath(path[:i])
		}
		return path[:i]
	}
	return ""
}

// hintsFor lists the unknown fields next to or inside the field at path,
// as notes for an error about that field.
func hintsFor(unknown []UnknownField, path string) string {
	var b strings.Builder
	parent := parentPath(path)
	for _, u := range unknown {
		if u.Path == parent || u.Path == path {
			b.WriteString("; ")
			b.WriteString(u.hint())
		}
	}
	return b.String()
}

// suggest returns the known field name that name is likely a misspelling
// of: at most two edits away (a swap of neighbours counts as one), and
// fewer edits than half the known name's length.
func suggest(name string, known []knownField) string {
	best, bestDist := "", 3
	lower := strings.ToLower(name)
	for _, f := range known {
		d := editDistance(lower, strings.ToLower(f.name))
		if d < bestDist && 2*d < utf8.RuneCountInString(f.name) {
			best, bestDist = f.name, d
		}
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps of
// adjacent characters that turn a into b (optimal string alignment).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return math.MaxInt32 // no field name is that long
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// syntaxError says where in the text a JSON task stops being JSON, as a
// line and column (both from 1, columns in characters) an editor can go to.
func syntaxError(data []byte, err *json.SyntaxError) error {
	pos := int(err.Offset)
	if strings.HasPrefix(err.Error(), "invalid character") && pos > 0 {
		pos-- // the offset is just past the character at fault
	}
	if pos >= len(data) { // the text ended early: point just past its last character
		pos = len(strings.TrimRight(string(data), " \t\r\n"))
	}
	pos = min(max(pos, 0), len(data))
	before := data[:pos]
	line := 1 + strings.Count(string(before), "\n")
	lineStart := strings.LastIndexByte(string(before), '\n') + 1
	col := 1 + utf8.RuneCount(before[lineStart:])
	return invalid("task JSON line %d, column %d: %s", line, col, err.Error())
}

// msgpackObject walks a msgpack task as object does a decoded JSON one, but
// straight from the bytes: known fields of struct type are entered, Duration
// strings parsed, and everything else skipped as the typed decoder skips
// unknown fields, so that a deep or huge unknown value costs no more here
// than there. A shape the walk does not expect ends it quietly: the typed
// decoder judges the payload.
// walkMsgpack walks a msgpack task for unknown fields; a panic in the
// msgpack decoder ends the walk like a decode error does.
func (w *fieldWalk) walkMsgpack(data []byte) {
	defer func() { _ = recover() }()
	_ = w.msgpackObject(msgpack.NewDecoder(bytes.NewReader(data)), reflect.TypeFor[Task](), "")
}

func (w *fieldWalk) msgpackObject(dec *msgpack.Decoder, t reflect.Type, path string) error {
	n, err := dec.DecodeMapLen()
	if err != nil {
		return err
	}
	known := fieldsOf(t, w.tag)
	for range max(n, 0) {
		key, err := dec.DecodeString()
		if err != nil {
			return err
		}
		i := slices.IndexFunc(known, func(f knownField) bool { return f.name == key })
		if i < 0 {
			w.unknown = append(w.unknown, UnknownField{Path: path, Name: key, Suggest: suggest(key, known)})
			if err := dec.Skip(); err != nil {
				return err
			}
			continue
		}
		if err := w.msgpackValue(dec, known[i].typ, join(path, key)); err != nil {
			return err
		}
	}
	return nil
}

func (w *fieldWalk) msgpackValue(dec *msgpack.Decoder, t reflect.Type, path string) error {
	c, err := dec.PeekCode()
	if err != nil {
		return err
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	isMap := msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32
	isArray := msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32
	switch {
	case t == durationType && msgpcode.IsString(c):
		s, err := dec.DecodeString()
		if err != nil {
			return err
		}
		w.duration(s, path)
		return nil
	case t.Kind() == reflect.Struct && isMap:
		return w.msgpackObject(dec, t, path)
	case t.Kind() == reflect.Slice && isArray && t.Elem().Kind() == reflect.Struct:
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return err
		}
		for i := range max(n, 0) {
			if err := w.msgpackValue(dec, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	return dec.Skip()
}
