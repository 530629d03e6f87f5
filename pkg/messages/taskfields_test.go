package messages

import (
	"errors"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// TestDecodeTaskFieldErrors lists the exact error a person sees for a task
// whose fault is a misspelt field name, a badly written value, or JSON that
// is not JSON.
func TestDecodeTaskFieldErrors(t *testing.T) {
	app := `"app":{"command":["x"]}`
	cases := []struct{ name, in, want string }{
		{"misspelt target", `{` + app + `,"steps":[{"action":"click","taget":{"text":"OK"}}]}`,
			`steps[0].target: missing (action "click" needs a target); ` +
				`unknown field "taget" (a typo of "target"?)`},
		{"misspelt steps", `{` + app + `,"stpes":[]}`,
			`steps: missing (a task needs at least one step); unknown field "stpes" (a typo of "steps"?)`},
		{"misspelt selector", `{` + app + `,"steps":[{"action":"click","target":{"txt":"OK"}}]}`,
			`steps[0].target: no selector (set text, class, or an anchor such as right_of); ` +
				`unknown field "txt" (a typo of "text"?)`},
		{"unknown field far from any", `{` + app + `,"steps":[{"action":"click","colour":1}]}`,
			`steps[0].target: missing (action "click" needs a target); unknown field "colour"`},
		{"unknown field elsewhere is not mentioned",
			`{` + app + `,"deadlin":"1m","steps":[{"action":"key","keys":"a"},{"action":"click"}]}`,
			`steps[1].target: missing (action "click" needs a target)`},
		{"misspelt command", `{"app":{"comand":["x"]},"steps":[{"action":"key","keys":"a"}]}`,
			`app.command: missing (the program to launch, e.g. ["firefox-esr", URL]); ` +
				`unknown field "comand" (a typo of "command"?)`},
		{"duration in words", `{` + app + `,"steps":[{"action":"sleep","for":"5 seconds"}]}`,
			`steps[0].for: invalid duration "5 seconds" (want a Go duration like "5s" or "1m30s")`},
		{"deadline in words", `{` + app + `,"deadline":"soon","steps":[{"action":"key","keys":"a"}]}`,
			`deadline: invalid duration "soon" (want a Go duration like "5s" or "1m30s")`},
		{"negative seconds", `{` + app + `,"steps":[{"action":"key","keys":"a","timeout":-2}]}`,
			`steps[0].timeout: invalid duration -2: negative`},
		{"duration as a list", `{` + app + `,"steps":[{"action":"key","keys":"a","timeout":[1]}]}`,
			`steps[0].timeout: want a duration like "20s" or a number of seconds, got a list`},
		{"amount in words",
			`{` + app + `,"steps":[{"action":"key","keys":"a"},{"action":"scroll","amount":"x"}]}`,
			`steps[1].amount: want a whole number, got string "x"`},
		{"fractional amount", `{` + app + `,"steps":[{"action":"scroll","amount":1.5}]}`,
			`steps[0].amount: want a whole number, got number 1.5`},
		{"command as text", `{"app":{"command":"firefox"},"steps":[]}`,
			`app.command: want a list, got string "firefox"`},
		{"step as text", `{` + app + `,"steps":["click"]}`, `steps[0]: want an object, got string "click"`},
		{"region as list", `{` + app + `,"steps":[{"action":"click","target":{"text":"a","region":[1,2]}}]}`,
			`steps[0].target.region: want an object, got a list`},
		{"trailing comma",
			"{\n  " + app + ",\n  \"steps\": [\n    {\"action\": \"key\", \"keys\": \"a\"},\n  ]\n}",
			`task JSON line 5, column 3: invalid character ']' looking for beginning of value`},
		{"ends early", "{\"id\":\n", `task JSON line 1, column 7: unexpected end of JSON input`},
		{"columns count characters", `{"id":"é",,}`,
			`task JSON line 1, column 11: invalid character ',' looking for beginning of object key string`},
		{"text after the task", `{` + app + `} x`,
			`task JSON line 1, column 27: invalid character 'x' after top-level value`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeTask([]byte(c.in))
			if err == nil {
				t.Fatalf("no error for %s", c.in)
			}
			if !errors.Is(err, ErrInvalidTask) {
				t.Errorf("error %v does not carry ErrInvalidTask", err)
			}
			if err.Error() != c.want {
				t.Errorf("\n got  %s\n want %s", err, c.want)
			}
		})
	}
}

func TestDecodeTaskUnknownFields(t *testing.T) {
	in := `{"app":{"command":["x"],"widht":800},"deadlin":"1m","Deadline":"2m","colour":"red",
		"steps":[{"action":"key","keys":"a"},{"action":"wait_for","target":{"text":"a","mach":"exact"}},
		{"action":"click","target":{"text":"b"},"taget":{"text":"c"}}]}`
	task, unknown, err := DecodeTaskUnknown([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	// Unknown fields are ignored, as DESIGN.md says; a differently cased
	// known name is read, as encoding/json reads it.
	if task.Deadline.String() != "2m0s" || task.Steps[2].Target.Text != "b" {
		t.Errorf("task %+v", task)
	}
	want := []UnknownField{
		{Path: "", Name: "colour"},
		{Path: "", Name: "deadlin", Suggest: "deadline"},
		{Path: "app", Name: "widht", Suggest: "width"},
		{Path: "steps[1].target", Name: "mach", Suggest: "match"},
		{Path: "steps[2]", Name: "taget", Suggest: "target"},
	}
	if !reflect.DeepEqual(sortedUnknown(unknown), want) {
		t.Errorf("unknown fields\n got  %+v\n want %+v", unknown, want)
	}
	if got := want[4].String(); got != `steps[2]: unknown field "taget"` {
		t.Errorf("String() = %q", got)
	}
	if got := want[0].String(); got != `unknown field "colour"` {
		t.Errorf("String() = %q", got)
	}
}

func sortedUnknown(u []UnknownField) []UnknownField {
	out := append([]UnknownField(nil), u...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Path+"\x00"+out[j].Name < out[i].Path+"\x00"+out[i].Name {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestDecodeTaskMsgpackFields: msgpack tasks go through the same checks,
// by their msgpack names (which match case exactly).
func TestDecodeTaskMsgpackFields(t *testing.T) {
	enc := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	app := map[string]any{"command": []string{"x"}}
	_, unknown, err := DecodeTaskUnknown(enc(map[string]any{"app": app, "deadlin": "1m",
		"steps": []any{map[string]any{"action": "key", "keys": "a", "Timeout": "1s"}}}))
	if err != nil {
		t.Fatal(err)
	}
	want := []UnknownField{{Path: "", Name: "deadlin", Suggest: "deadline"},
		{Path: "steps[0]", Name: "Timeout", Suggest: "timeout"}}
	if !reflect.DeepEqual(sortedUnknown(unknown), want) {
		t.Errorf("unknown fields\n got  %+v\n want %+v", unknown, want)
	}
	cases := []struct {
		name string
		in   map[string]any
		want string
	}{
		{"duration in words", map[string]any{"app": app,
			"steps": []any{map[string]any{"action": "sleep", "for": "5 seconds"}}},
			`steps[0].for: invalid duration "5 seconds" (want a Go duration like "5s" or "1m30s")`},
		{"misspelt target", map[string]any{"app": app,
			"steps": []any{map[string]any{"action": "click", "taget": map[string]any{"text": "a"}}}},
			`steps[0].target: missing (action "click" needs a target); ` +
				`unknown field "taget" (a typo of "target"?)`},
	}
	for _, c := range cases {
		_, err := DecodeTask(enc(c.in))
		if err == nil || err.Error() != c.want || !errors.Is(err, ErrInvalidTask) {
			t.Errorf("%s:\n got  %v\n want %s", c.name, err, c.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	known := fieldsOf(reflect.TypeFor[Target](), "json")
	for in, want := range map[string]string{"txt": "text", "Txet": "text", "rightof": "right_of",
		"left-of": "left_of", "nears": "near", "x": "", "colour": "", "regoin": "region", "clas": "class"} {
		if got := suggest(in, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
	if d := editDistance("taget", "target"); d != 1 {
		t.Errorf("editDistance = %d", d)
	}
	if d := editDistance("stpes", "steps"); d != 1 {
		t.Errorf("a swap of neighbours: editDistance = %d", d)
	}
}

func TestParentPath(t *testing.T) {
	for in, want := range map[string]string{"steps[0].target": "steps[0]",
		"steps[0].target.text": "steps[0].target", "app.width": "app", "steps": "", "steps[3]": ""} {
		if got := parentPath(in); got != want {
			t.Errorf("parentPath(%q) = %q, want %q", in, got, want)
		}
	}
}
