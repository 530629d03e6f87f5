// Package badinput_test is a table of malformed inputs at every door of the
// system (task payloads, frames, inferd's gRPC requests, sfctl's arguments)
// with the exact error the person who sent each one sees.
package badinput_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/grpc/status"

	"github.com/screenfleet/screenfleet/internal/imagetest"
	"github.com/screenfleet/screenfleet/internal/inferd"
	"github.com/screenfleet/screenfleet/internal/kserve"
	pb "github.com/screenfleet/screenfleet/internal/kserve/inferencepb"
	"github.com/screenfleet/screenfleet/internal/sfctl"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// errText returns err's text, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func check(t *testing.T, name, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\n got  %q\n want %q", name, got, want)
	}
}

func mp(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const steps = `"steps":[{"action":"key","keys":"Return"}]`

func TestBadTasks(t *testing.T) {
	cases := []struct{ name, data, want string }{
		{"empty", ``, "empty payload: want a JSON or msgpack task"},
		{"not json", `{"id":`, "task JSON line 1, column 7: unexpected end of JSON input"},
		{"trailing comma", "{\n  \"id\": \"t\",\n  \"app\": {\"command\": [\"x\"]},\n  \"steps\": [\n" +
			"    {\"action\": \"key\", \"keys\": \"a\"},\n  ]\n}",
			"task JSON line 6, column 3: invalid character ']' looking for beginning of value"},
		{"array", `[1,2]`, "cannot parse task: a JSON array; send one task object per message"},
		{"no app", `{"id":"t",` + steps + `}`,
			`app.command: missing (the program to launch, e.g. ["firefox-esr", URL])`},
		{"no steps", `{"id":"t","app":{"command":["x"]}}`, "steps: missing (a task needs at least one step)"},
		{"empty command", `{"id":"t","app":{"command":[]},` + steps + `}`,
			`app.command: missing (the program to launch, e.g. ["firefox-esr", URL])`},
		// Unknown fields are ignored (want ""), so that older dispatchers
		// read tasks written for newer ones; a misspelt required field
		// still fails as missing, and the error names the misspelling.
		{"unknown field", `{"id":"t","app":{"command":["x"]},"colour":1,` + steps + `}`, ""},
		{"misspelt optional field", `{"id":"t","app":{"command":["x"]},"deadlin":"1m",` + steps + `}`, ""},
		{"misspelt steps", `{"id":"t","app":{"command":["x"]},"stpes":[{"action":"key","keys":"a"}]}`,
			`steps: missing (a task needs at least one step); unknown field "stpes" (a typo of "steps"?)`},
		{"misspelt target",
			`{"id":"t","app":{"command":["x"]},"steps":[{"action":"click","taget":{"text":"a"}}]}`,
			`steps[0].target: missing (action "click" needs a target); ` +
				`unknown field "taget" (a typo of "target"?)`},
		{"id with a dot", `{"id":"a.b","app":{"command":["x"]},` + steps + `}`,
			`id "a.b": use 1-128 letters, digits, '-' or '_'`},
		{"id with a space", `{"id":"a b","app":{"command":["x"]},` + steps + `}`,
			`id "a b": use 1-128 letters, digits, '-' or '_'`},
		{"unknown action", `{"id":"t","app":{"command":["x"]},"steps":[{"action":"dance"}]}`,
			`steps[0].action: unknown action "dance" (want one of wait_for, click, double_click, type, key, scroll, assert, assert_absent, sleep)`},
		{"click without target", `{"id":"t","app":{"command":["x"]},"steps":[{"action":"click"}]}`,
			`steps[0].target: missing (action "click" needs a target)`},
		{"bad regex", `{"id":"t","app":{"command":["x"]},"steps":[{"action":"click","target":{"text":"(","match":"regex"}}]}`,
			"steps[0].target.text: invalid regex: error parsing regexp: missing closing ): `(?i)(`"},
		{"bad duration", `{"id":"t","app":{"command":["x"]},"deadline":"soon",` + steps + `}`,
			`deadline: invalid duration "soon" (want a Go duration like "5s" or "1m30s")`},
		{"duration in words",
			`{"id":"t","app":{"command":["x"]},"steps":[{"action":"sleep","for":"5 seconds"}]}`,
			`steps[0].for: invalid duration "5 seconds" (want a Go duration like "5s" or "1m30s")`},
		{"negative timeout", `{"id":"t","app":{"command":["x"]},"steps":[{"action":"key","keys":"a","timeout":"-1s"}]}`,
			`steps[0].timeout: invalid duration "-1s": negative`},
		{"width as text", `{"id":"t","app":{"command":["x"],"width":"wide"},` + steps + `}`,
			`app.width: want a whole number, got string "wide"`},
		{"huge display", `{"id":"t","app":{"command":["x"],"width":100000,"height":800},` + steps + `}`,
			"app.width/height: 100000x800 is out of range (16..7680)"},
		{"msgpack garbage", "\x93\x01",
			"cannot parse task: msgpack: number of fields in array-encoded struct has changed"},
		{"msgpack id as a number", string(mp(t, map[string]any{"id": 5})),
			"cannot parse task: msgpack: invalid code=5 decoding string/bytes length"},
		{"msgpack duration in words", string(mp(t, map[string]any{
			"app":   map[string]any{"command": []string{"x"}},
			"steps": []any{map[string]any{"action": "sleep", "for": "5 seconds"}}})),
			`steps[0].for: invalid duration "5 seconds" (want a Go duration like "5s" or "1m30s")`},
	}
	for _, c := range cases {
		_, err := messages.DecodeTask([]byte(c.data))
		check(t, "task "+c.name, errText(err), c.want)
	}
}

func TestBadFrames(t *testing.T) {
	png := imagetest.PNGHeader(2, 2)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "cannot decode frame: EOF"},
		{"not msgpack", []byte("hello"), "cannot decode frame: msgpack: unexpected code=68 decoding map length"},
		{"no codec", mp(t, messages.Frame{Width: 2, Height: 2, Data: png}), `frame codec "": want png or jpeg or sfraw`},
		{"gif codec", mp(t, messages.Frame{Codec: "gif", Width: 2, Height: 2, Data: png}),
			`frame codec "gif": want png or jpeg or sfraw`},
		{"no data", mp(t, messages.Frame{Codec: messages.CodecPNG, Width: 2, Height: 2}), "frame data: empty"},
		{"zero size", mp(t, messages.Frame{Codec: messages.CodecPNG, Data: png}), "frame size 0x0 out of range"},
		{"too wide", mp(t, messages.Frame{Codec: messages.CodecPNG, Width: 100000, Height: 2, Data: png}),
			"frame size 100000x2 out of range"},
	}
	for _, c := range cases {
		_, err := messages.DecodeFrame(c.data)
		check(t, "frame "+c.name, errText(err), c.want)
	}
}

// TestBadInferRequests sends malformed requests to a real inferd over gRPC.
func TestBadInferRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := inferd.Start(ctx, inferd.Config{GRPCAddr: "127.0.0.1:0", OCRWorkers: 1, MaxBatch: 2},
		zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	c, err := kserve.Dial(ctx, srv.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	good := imagetest.PNGHeader(4, 4)
	noInputs := kserve.NewBoxesRequest(messages.DefaultModel, [][]byte{good})
	noInputs.Inputs, noInputs.RawInputContents = nil, nil
	wrongType := kserve.NewBoxesRequest(messages.DefaultModel, [][]byte{good})
	wrongType.Inputs[0].Datatype = "FP32"
	cases := []struct {
		name string
		req  *pb.ModelInferRequest
		want string
	}{
		{"unknown model", kserve.NewBoxesRequest("nope", [][]byte{good}), `NotFound: unknown model "nope"`},
		{"no inputs", noInputs, `InvalidArgument: no inputs; the model takes input "IMAGE"`},
		{"wrong datatype", wrongType, `InvalidArgument: input "IMAGE": datatype "FP32", want "BYTES"`},
		{"batch too large", kserve.NewBoxesRequest(messages.DefaultModel, [][]byte{good, good, good}),
			`InvalidArgument: input "IMAGE": batch size 3 exceeds max_batch_size 2`},
		{"not an image", kserve.NewBoxesRequest(messages.DefaultModel, [][]byte{[]byte("hello")}),
			"InvalidArgument: image 0: bad image: image: unknown format"},
		{"empty image", kserve.NewBoxesRequest(messages.DefaultModel, [][]byte{{}}),
			"InvalidArgument: image 0: bad image: empty"},
		{"huge image header", kserve.NewBoxesRequest(messages.DefaultModel,
			[][]byte{imagetest.PNGHeader(100000, 100000)}),
			"InvalidArgument: image 0: bad image: png of 100000x100000 pixels exceeds 8192x8192"},
	}
	for _, tc := range cases {
		_, err := c.Service().ModelInfer(ctx, tc.req)
		st, _ := status.FromError(err)
		check(t, "infer "+tc.name, st.Code().String()+": "+st.Message(), tc.want)
	}
}

// TestBadSfctlArguments runs sfctl commands that fail before reaching NATS.
func TestBadSfctlArguments(t *testing.T) {
	dir := t.TempDir()
	invalid := filepath.Join(dir, "invalid.json")
	if err := os.WriteFile(invalid, []byte(`{"id":"x","app":{"command":["x"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.json")
	hugeTask := `{"id":"huge","app":{"command":["x"]},"steps":[{"action":"type","text":"` +
		strings.Repeat("a", 2_000_000) + `"}]}`
	if err := os.WriteFile(huge, []byte(hugeTask), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"launch"}, `unknown command "launch" for "sfctl"`},
		{[]string{"submit"}, "requires at least 1 arg(s), only received 0"},
		{[]string{"submit", filepath.Join(dir, "missing.json")}, "open DIR/missing.json: no such file or directory"},
		{[]string{"submit", invalid}, "DIR/invalid.json: steps: missing (a task needs at least one step)"},
		{[]string{"submit", huge}, "DIR/huge.json: task huge is 2.0 MB; a task may be at most 1 MiB " +
			"(large inputs belong in files the app opens, not in the task)"},
		{[]string{"status"}, "accepts 1 arg(s), received 0"},
		{[]string{"tasks", "--state", "sleeping"},
			`--state "sleeping": use one of queued, assigned, running, succeeded, failed, cancelled`},
		{[]string{"submit", "--timeout", "soon", invalid},
			`invalid argument "soon" for "--timeout" flag: time: invalid duration "soon"`},
		{[]string{"--tls-cert", "c.pem", "tasks"}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-ca", filepath.Join(dir, "none.pem"), "tasks"},
			"--tls-ca: stat DIR/none.pem: no such file or directory"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		root := sfctl.NewRoot(&out)
		root.SetArgs(append(c.args, "--nats-url", "nats://127.0.0.1:1"))
		root.SetErr(&out)
		err := root.ExecuteContext(context.Background())
		check(t, "sfctl "+strings.Join(c.args, " "), strings.ReplaceAll(errText(err), dir, "DIR"), c.want)
	}
}
