package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Action names what a step does.
type Action string

// The actions a step may take.
const (
	ActionWaitFor      Action = "wait_for"
	ActionClick        Action = "click"
	ActionDoubleClick  Action = "double_click"
	ActionType         Action = "type"
	ActionKey          Action = "key"
	ActionScroll       Action = "scroll"
	ActionAssert       Action = "assert"
	ActionAssertAbsent Action = "assert_absent"
	ActionSleep        Action = "sleep"
)

// Match says how a target's text is compared with what is on screen.
type Match string

// The text match modes. All of them ignore case.
const (
	MatchExact    Match = "exact"
	MatchContains Match = "contains"
	MatchRegex    Match = "regex"
)

// Limits on what a task may ask for. They keep one task from exhausting a host.
const (
	MaxSteps       = 500
	MaxDisplaySide = 7680
	DefaultWidth   = 1280
	DefaultHeight  = 800
	// DefaultDeadline bounds a task that names none: long enough for a browser
	// start and a few dozen steps on a slow CPU.
	DefaultDeadline = 5 * time.Minute
	// DefaultStepTimeout bounds a step that names none.
	DefaultStepTimeout = 15 * time.Second
	// DefaultModel is the inference model steps use unless the task names one.
	DefaultModel = "ocr"
	// MaxTaskBytes is the largest encoded task a dispatcher runs, and what
	// sfctl checks before publishing (counting the message's headers too,
	// as a server's max_payload does). Large inputs belong in files the app
	// opens; a task with MaxSteps steps is well under 256 KiB.
	MaxTaskBytes = 1 << 20
)

// Task is what a person submits: an app to launch and steps to run in it.
type Task struct {
	V        int      `json:"v,omitempty" msgpack:"v"`
	ID       string   `json:"id,omitempty" msgpack:"id"`
	App      App      `json:"app" msgpack:"app"`
	Model    string   `json:"model,omitempty" msgpack:"model,omitempty"`
	Deadline Duration `json:"deadline,omitempty" msgpack:"deadline"`
	Steps    []Step   `json:"steps" msgpack:"steps"`
	// Record says whether the run is kept for replay; empty means always.
	Record RecordMode `json:"record,omitempty" msgpack:"record,omitempty"`
}

// App is the application a task runs in its sandbox, and the display size.
type App struct {
	Command []string `json:"command" msgpack:"command"`
	Width   int      `json:"width,omitempty" msgpack:"width"`
	Height  int      `json:"height,omitempty" msgpack:"height"`
	// Profile names the kind of sandbox to run in (with the docker runtime,
	// an image the dispatcher allows under that name); empty is the default.
	Profile string `json:"profile,omitempty" msgpack:"profile,omitempty"`
}

// Step is one action of a task.
type Step struct {
	Action  Action   `json:"action" msgpack:"action"`
	Target  *Target  `json:"target,omitempty" msgpack:"target,omitempty"`
	Text    string   `json:"text,omitempty" msgpack:"text,omitempty"`
	Keys    string   `json:"keys,omitempty" msgpack:"keys,omitempty"`
	Amount  int      `json:"amount,omitempty" msgpack:"amount,omitempty"` // scroll clicks; negative scrolls up
	Timeout Duration `json:"timeout,omitempty" msgpack:"timeout,omitempty"`
	For     Duration `json:"for,omitempty" msgpack:"for,omitempty"` // sleep length
}

// Target selects one box on screen.
type Target struct {
	Text    string `json:"text,omitempty" msgpack:"text,omitempty"`
	Match   Match  `json:"match,omitempty" msgpack:"match,omitempty"`
	Class   string `json:"class,omitempty" msgpack:"class,omitempty"`
	Index   int    `json:"index,omitempty" msgpack:"index,omitempty"` // among matches in reading order, from 0
	RightOf string `json:"right_of,omitempty" msgpack:"right_of,omitempty"`
	LeftOf  string `json:"left_of,omitempty" msgpack:"left_of,omitempty"`
	Below   string `json:"below,omitempty" msgpack:"below,omitempty"`
	Above   string `json:"above,omitempty" msgpack:"above,omitempty"`
	Near    string `json:"near,omitempty" msgpack:"near,omitempty"`
	Offset  []int  `json:"offset,omitempty" msgpack:"offset,omitempty"` // [dx, dy] from the box centre
	Region  *Rect  `json:"region,omitempty" msgpack:"region,omitempty"`
}

// Rect is a rectangle in display pixels.
type Rect struct {
	X int `json:"x" msgpack:"x"`
	Y int `json:"y" msgpack:"y"`
	W int `json:"w" msgpack:"w"`
	H int `json:"h" msgpack:"h"`
}

// Anchors lists the target's spatial anchors by kind, skipping empty ones.
func (t *Target) Anchors() map[string]string {
	all := map[string]string{"right_of": t.RightOf, "left_of": t.LeftOf,
		"below": t.Below, "above": t.Above, "near": t.Near}
	for k, v := range all {
		if v == "" {
			delete(all, k)
		}
	}
	return all
}

// String describes the target briefly, for progress lines and errors.
func (t *Target) String() string {
	if t == nil {
		return "<none>"
	}
	var parts []string
	if t.Text != "" {
		parts = append(parts, fmt.Sprintf("text %q", t.Text))
	}
	if t.Class != "" {
		parts = append(parts, "class "+t.Class)
	}
	for _, k := range []string{"right_of", "left_of", "below", "above", "near"} {
		if v := t.Anchors()[k]; v != "" {
			parts = append(parts, fmt.Sprintf("%s %q", k, v))
		}
	}
	if t.Index > 0 {
		parts = append(parts, fmt.Sprintf("index %d", t.Index))
	}
	return strings.Join(parts, ", ")
}

// DecodeTask reads a task from JSON (when the payload starts with '{') or
// msgpack, fills defaults and validates it. The error names the field at fault
// and wraps ErrInvalidTask. Unknown fields are ignored (DESIGN.md); see
// DecodeTaskUnknown to hear about them.
func DecodeTask(data []byte) (Task, error) {
	t, _, err := DecodeTaskUnknown(data)
	return t, err
}

// DecodeTaskUnknown is DecodeTask that also lists the fields it ignored
// because no version of Task has them, most likely misspellings. When the
// task is invalid, the error mentions those next to the field at fault.
func DecodeTaskUnknown(data []byte) (Task, []UnknownField, error) {
	var t Task
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return t, nil, invalid("empty payload: want a JSON or msgpack task")
	}
	if trimmed[0] == '[' { // no msgpack map starts with 0x5b
		return t, nil, invalid("cannot parse task: a JSON array; send one task object per message")
	}
	if trimmed[0] == '{' {
		return decodeJSONTask(data)
	}
	w := &fieldWalk{tag: "msgpack"}
	err := unmarshal(data, &t)
	// A walk that stops early (a payload of another shape) has still
	// noted what it saw; the typed decoder has the last word.
	w.walkMsgpack(data)
	if err != nil && looksLikeText(trimmed) {
		return Task{}, nil, invalid("cannot parse task: text that is not a JSON object "+
			"(a task starts with '{') nor msgpack (%s)", describeParseError(err))
	}
	if err != nil && w.err != nil {
		return Task{}, w.unknown, invalid("%s", w.err.text)
	}
	if err != nil {
		return Task{}, w.unknown, invalid("cannot parse task: %s", describeParseError(err))
	}
	return finish(t, w.unknown)
}

// decodeJSONTask checks the syntax, then the fields by name, then decodes,
// so that each error says where the trouble is.
func decodeJSONTask(data []byte) (Task, []UnknownField, error) {
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Task{}, nil, syntaxError(data, syn)
		}
		return Task{}, nil, invalid("cannot parse task: %s", err)
	}
	w := &fieldWalk{tag: "json"}
	if m, ok := generic.(map[string]any); ok {
		w.object(m, reflect.TypeFor[Task](), "")
	}
	if w.err != nil {
		return Task{}, w.unknown, invalid("%s", w.err.text)
	}
	var t Task
	if err := json.Unmarshal(data, &t); err != nil {
		// The walk above finds what this decoder refuses; this is a fallback.
		return Task{}, w.unknown, invalid("cannot parse task: %s", describeParseError(err))
	}
	return finish(t, w.unknown)
}

// finish fills defaults and validates a decoded task, noting unknown fields
// next to the one at fault.
func finish(t Task, unknown []UnknownField) (Task, []UnknownField, error) {
	t.Defaults()
	if fe := t.check(); fe != nil {
		return Task{}, unknown, invalid("%s%s", fe.text, hintsFor(unknown, fe.path))
	}
	return t, unknown, nil
}

// looksLikeText reports whether b is printable UTF-8: someone sent words,
// not a msgpack task, so the msgpack decoder's complaint alone would mislead.
func looksLikeText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

func describeParseError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fmt.Sprintf("field %s: want %s, got %s", typeErr.Field, typeErr.Type, typeErr.Value)
	}
	return err.Error()
}

// Defaults fills the optional fields a task left out.
func (t *Task) Defaults() {
	if t.App.Width == 0 {
		t.App.Width = DefaultWidth
	}
	if t.App.Height == 0 {
		t.App.Height = DefaultHeight
	}
	if t.Deadline == 0 {
		t.Deadline = Duration(DefaultDeadline)
	}
	if t.Model == "" {
		t.Model = DefaultModel
	}
	t.V = Version
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// Validate reports the first thing wrong with the task, naming the field.
func (t *Task) Validate() error {
	if fe := t.check(); fe != nil {
		return invalid("%s", fe.text)
	}
	return nil
}

// check is Validate, keeping the path of the field at fault apart.
func (t *Task) check() *fieldError {
	if t.ID != "" && !idPattern.MatchString(t.ID) {
		return fieldErrorf("id", "%q: use 1-128 letters, digits, '-' or '_'", t.ID).unspaced()
	}
	if len(t.App.Command) == 0 || t.App.Command[0] == "" {
		return fieldErrorf("app.command", "missing (the program to launch, e.g. [\"firefox-esr\", URL])")
	}
	if t.App.Width < 16 || t.App.Height < 16 || t.App.Width > MaxDisplaySide || t.App.Height > MaxDisplaySide {
		fe := fieldErrorf("app.width", "%dx%d is out of range (16..%d)", t.App.Width, t.App.Height,
			MaxDisplaySide)
		fe.text = "app.width/height" + strings.TrimPrefix(fe.text, "app.width")
		return fe
	}
	if t.App.Profile != "" && !idPattern.MatchString(t.App.Profile) {
		return fieldErrorf("app.profile", "%q: use letters, digits, '-' or '_'", t.App.Profile).unspaced()
	}
	if !idPattern.MatchString(t.Model) {
		return fieldErrorf("model", "%q: use letters, digits, '-' or '_'", t.Model).unspaced()
	}
	if !t.Record.Valid() {
		return fieldErrorf("record", "%q: want always, never or on_failure", t.Record).unspaced()
	}
	if len(t.Steps) == 0 {
		return fieldErrorf("steps", "missing (a task needs at least one step)")
	}
	if len(t.Steps) > MaxSteps {
		return fieldErrorf("steps", "%d steps, at most %d", len(t.Steps), MaxSteps)
	}
	for i := range t.Steps {
		if fe := t.Steps[i].validate(); fe != nil {
			prefix := fmt.Sprintf("steps[%d].", i)
			return &fieldError{path: prefix + fe.path, text: prefix + fe.text}
		}
	}
	return nil
}

// unspaced turns "id: \"a.b\": ..." into "id \"a.b\": ...", for messages
// that quote the field's value after its name.
func (fe *fieldError) unspaced() *fieldError {
	fe.text = fe.path + strings.TrimPrefix(fe.text, fe.path+":")
	return fe
}

// validate checks one step; paths are relative to the step.
func (s *Step) validate() *fieldError {
	switch s.Action {
	case ActionWaitFor, ActionClick, ActionDoubleClick, ActionAssert, ActionAssertAbsent:
		if s.Target == nil {
			return fieldErrorf("target", "missing (action %q needs a target)", s.Action)
		}
		return s.Target.validate()
	case ActionType:
		if s.Text == "" {
			return fieldErrorf("text", "missing (action \"type\" needs text)")
		}
	case ActionKey:
		if strings.TrimSpace(s.Keys) == "" {
			return fieldErrorf("keys", "missing (action \"key\" needs keys, e.g. \"ctrl+a\")")
		}
	case ActionScroll:
		if s.Amount == 0 {
			return fieldErrorf("amount", "missing (action \"scroll\" needs a non-zero amount)")
		}
	case ActionSleep:
		if s.For == 0 {
			return fieldErrorf("for", "missing (action \"sleep\" needs a duration, e.g. \"500ms\")")
		}
	case "":
		return fieldErrorf("action", "missing")
	default:
		return fieldErrorf("action", "unknown action %q (want one of %s)", s.Action, actionList())
	}
	if s.Target != nil && s.Action != ActionScroll {
		return fieldErrorf("target", "action %q takes no target", s.Action)
	}
	return nil
}

func actionList() string {
	all := []Action{ActionWaitFor, ActionClick, ActionDoubleClick, ActionType, ActionKey,
		ActionScroll, ActionAssert, ActionAssertAbsent, ActionSleep}
	names := make([]string, len(all))
	for i, a := range all {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

// validate checks a step's target; paths are relative to the step.
func (t *Target) validate() *fieldError {
	if t.Text == "" && t.Class == "" && len(t.Anchors()) == 0 {
		return fieldErrorf("target", "no selector (set text, class, or an anchor such as right_of)")
	}
	switch t.Match {
	case "", MatchExact, MatchContains:
	case MatchRegex:
		if _, err := regexp.Compile("(?i)" + t.Text); err != nil {
			return fieldErrorf("target.text", "invalid regex: %v", err)
		}
	default:
		return fieldErrorf("target.match", "unknown mode %q (want exact, contains or regex)", t.Match)
	}
	if t.Index < 0 {
		return fieldErrorf("target.index", "%d is negative", t.Index)
	}
	if t.Offset != nil && len(t.Offset) != 2 {
		return fieldErrorf("target.offset", "want [dx, dy], got %d numbers", len(t.Offset))
	}
	if r := t.Region; r != nil && (r.W <= 0 || r.H <= 0) {
		return fieldErrorf("target.region", "width and height must be positive")
	}
	return nil
}

// Timeout returns the step's timeout, or the default when it set none.
func (s *Step) TimeoutOrDefault() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout.D()
	}
	return DefaultStepTimeout
}

// Describe says what the step does in a few words, for progress lines.
func (s *Step) Describe() string {
	switch s.Action {
	case ActionType:
		return fmt.Sprintf("type %d characters", len([]rune(s.Text)))
	case ActionKey:
		return "key " + s.Keys
	case ActionScroll:
		return fmt.Sprintf("scroll %d", s.Amount)
	case ActionSleep:
		return "sleep " + s.For.String()
	}
	return fmt.Sprintf("%s %s", s.Action, s.Target)
}
