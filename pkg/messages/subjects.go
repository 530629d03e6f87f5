package messages

import (
	"fmt"
	"strings"
)

// Names of the JetStream assets screenfleet uses.
const (
	TasksStream = "TASKS"
	TasksBucket = "sf_tasks"
	// TasksConsumer is the durable pull consumer every dispatcher shares.
	TasksConsumer = "dispatchers"
	// MsgIDHeader carries the task id for JetStream's duplicate window.
	MsgIDHeader = "Nats-Msg-Id"
	// ErrorHeader carries a dead letter's error as text, for people reading
	// the stream with the nats CLI.
	ErrorHeader = "Sf-Error"
	// DefaultPrefix begins every subject unless a deployment configures another.
	DefaultPrefix = "sf"
)

// Subjects builds every subject screenfleet uses from one prefix. Nothing else
// assembles subjects by hand.
type Subjects struct{ prefix string }

// NewSubjects returns the subjects under prefix ("sf" when empty).
func NewSubjects(prefix string) Subjects {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Subjects{prefix: strings.TrimSuffix(prefix, ".")}
}

// Prefix returns the subject prefix.
func (s Subjects) Prefix() string { return s.prefix }

// TaskSubmit is where tasks are published (captured by the TASKS stream).
func (s Subjects) TaskSubmit() string { return s.prefix + ".tasks.submit" }

// TaskDead is where unparseable tasks go, with the parse error.
func (s Subjects) TaskDead() string { return s.prefix + ".tasks.dead" }

// TaskProgress is where an agent reports progress for one task.
func (s Subjects) TaskProgress(task string) string { return s.prefix + ".progress." + task }

// AllProgress matches every task's progress subject.
func (s Subjects) AllProgress() string { return s.prefix + ".progress.*" }

// Assign is the request subject a sandbox's agent answers assignments on.
func (s Subjects) Assign(sandbox string) string { return s.prefix + ".sandbox." + sandbox + ".assign" }

// Infer is the subject a sandbox sends frames on for a model.
func (s Subjects) Infer(model, sandbox string) string {
	return s.prefix + ".infer." + model + "." + sandbox
}

// InferAll matches frames for a model from every sandbox; workers subscribe here.
func (s Subjects) InferAll(model string) string { return s.prefix + ".infer." + model + ".*" }

// InferDirect is the subject that reaches one named worker for a model
// instead of the model's queue group: replays use it to compare workers
// or GPUs. Recording does not capture it.
func (s Subjects) InferDirect(worker, model, sandbox string) string {
	return s.prefix + ".direct." + worker + "." + model + "." + sandbox
}

// InferDirectAll matches every sandbox's frames sent to one named worker.
func (s Subjects) InferDirectAll(worker, model string) string {
	return s.prefix + ".direct." + worker + "." + model + ".*"
}

// WorkerStatus is where one worker answers status requests for one model.
func (s Subjects) WorkerStatus(worker, model string) string {
	return s.prefix + ".worker." + worker + "." + model
}

// InferQueue is the queue group of a model's workers.
func (s Subjects) InferQueue(model string) string { return "sf-workers-" + model }

// CheckToken reports an error if v cannot be one token of a subject.
func CheckToken(kind, v string) error {
	if v == "" || strings.ContainsAny(v, ".*> \t\r\n") {
		return fmt.Errorf("%s %q cannot be a subject token", kind, v)
	}
	return nil
}

// SandboxList is the request subject every dispatcher answers with the
// sandboxes it holds (a messages.SandboxList each); sfctl gathers the replies.
func (s Subjects) SandboxList() string { return s.prefix + ".sandboxes.list" }

// Frame is where an agent publishes a copy of each frame it sends for
// inference, for the FRAMES stream to keep. The frames are not recorded
// from the Infer subjects themselves: a stream listening there would count
// as a responder, and requests would time out instead of failing at once
// with no responders when no worker listens.
func (s Subjects) Frame(task, sandbox string) string {
	return s.prefix + ".frames." + task + "." + sandbox
}

// FramesAll matches every recorded frame; the FRAMES stream captures it.
func (s Subjects) FramesAll() string { return s.prefix + ".frames.>" }

// FramesOfTask matches the recorded frames of one task.
func (s Subjects) FramesOfTask(task string) string { return s.prefix + ".frames." + task + ".*" }

// FramesOfSandbox matches the recorded frames of one sandbox.
func (s Subjects) FramesOfSandbox(sandbox string) string { return s.prefix + ".frames.*." + sandbox }

// Record is where an agent publishes a record of kind (RecordKindDetections,
// RecordKindAction, RecordKindEnd) for a task run in a sandbox.
func (s Subjects) Record(task, sandbox, kind string) string {
	return s.prefix + ".rec." + task + "." + sandbox + "." + kind
}

// RecordsAll matches every record; the RECORDS stream captures it.
func (s Subjects) RecordsAll() string { return s.prefix + ".rec.>" }

// RecordsOfTask matches every record of one task.
func (s Subjects) RecordsOfTask(task string) string { return s.prefix + ".rec." + task + ".>" }

// RecordsOfSandbox matches every record made in one sandbox.
func (s Subjects) RecordsOfSandbox(sandbox string) string {
	return s.prefix + ".rec.*." + sandbox + ".>"
}

// RecordEnds matches the end record of every task run.
func (s Subjects) RecordEnds() string { return s.prefix + ".rec.*.*." + RecordKindEnd }
