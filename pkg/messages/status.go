package messages

import "time"

// State is where a task is in its life. It only moves forward.
type State string

// Task states.
const (
	StateQueued    State = "queued"
	StateAssigned  State = "assigned"
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
)

var stateRank = map[State]int{StateQueued: 0, StateAssigned: 1, StateRunning: 2,
	StateSucceeded: 3, StateFailed: 3, StateCancelled: 3}

// Final reports whether s is a final state.
func (s State) Final() bool { return stateRank[s] == 3 }

// CanMoveTo reports whether a task in state s may move to next. A retry moves
// a task from assigned or running back to queued, with a higher attempt.
func (s State) CanMoveTo(next State, retry bool) bool {
	if s.Final() {
		return false
	}
	if retry {
		return next == StateQueued
	}
	return stateRank[next] > stateRank[s]
}

// Assignment hands a task to a sandbox's agent.
type Assignment struct {
	V       int    `msgpack:"v"`
	Task    Task   `msgpack:"task"`
	Attempt int    `msgpack:"attempt"`
	Sandbox string `msgpack:"sandbox"`
}

// AssignReply is the agent's answer to an Assignment.
type AssignReply struct {
	V        int    `msgpack:"v"`
	Accepted bool   `msgpack:"accepted"`
	Code     Code   `msgpack:"code,omitempty"`
	Error    string `msgpack:"error,omitempty"`
}

// StepResult is what happened in one step.
type StepResult struct {
	Index    int      `json:"index" msgpack:"index"`
	Action   Action   `json:"action" msgpack:"action"`
	Detail   string   `json:"detail" msgpack:"detail"` // e.g. `clicked "Sign in" at (612,431)`
	OK       bool     `json:"ok" msgpack:"ok"`
	Duration Duration `json:"duration" msgpack:"duration"`
	Frames   int      `json:"frames" msgpack:"frames"` // frames captured during the step
	Error    string   `json:"error,omitempty" msgpack:"error,omitempty"`
	// Stages is where the step's time went: the total time in each stage
	// of perceiving and acting (capture, encode, publish_to_reply, queue,
	// recognition, decode, act, settle). Stages overlap: settle includes
	// its captures, and publish_to_reply its decode and the worker's queue
	// and recognition times.
	Stages map[string]Duration `json:"stages,omitempty" msgpack:"stages,omitempty"`
}

// StepStages returns the stage names a StepResult's Stages may hold, in
// the order a step goes through them.
func StepStages() []string {
	return []string{"capture", "encode", "publish_to_reply", "queue", "recognition", "decode", "act", "settle"}
}

// Progress is sent by the agent after each step, and once at the end with Done set.
type Progress struct {
	V       int        `msgpack:"v"`
	Task    string     `msgpack:"task"`
	Sandbox string     `msgpack:"sandbox"`
	Attempt int        `msgpack:"attempt"`
	Steps   int        `msgpack:"steps"` // steps in the task
	Step    StepResult `msgpack:"step"`
	Done    bool       `msgpack:"done"`
	OK      bool       `msgpack:"ok"`
	Code    Code       `msgpack:"code,omitempty"`
	Error   string     `msgpack:"error,omitempty"`
	Seen    []string   `msgpack:"seen,omitempty"` // texts on screen when the task failed
}

// TaskStatus is the value kept for each task in the KV bucket.
type TaskStatus struct {
	V           int          `json:"v" msgpack:"v"`
	ID          string       `json:"id" msgpack:"id"`
	State       State        `json:"state" msgpack:"state"`
	Attempt     int          `json:"attempt" msgpack:"attempt"`
	Sandbox     string       `json:"sandbox,omitempty" msgpack:"sandbox,omitempty"`
	Dispatcher  string       `json:"dispatcher,omitempty" msgpack:"dispatcher,omitempty"`
	StepCount   int          `json:"step_count" msgpack:"step_count"`
	Steps       []StepResult `json:"steps" msgpack:"steps"`
	Code        Code         `json:"code,omitempty" msgpack:"code,omitempty"`
	Error       string       `json:"error,omitempty" msgpack:"error,omitempty"`
	Seen        []string     `json:"seen,omitempty" msgpack:"seen,omitempty"`
	SubmittedAt time.Time    `json:"submitted_at" msgpack:"submitted_at"`
	StartedAt   time.Time    `json:"started_at,omitzero" msgpack:"started_at"`
	UpdatedAt   time.Time    `json:"updated_at" msgpack:"updated_at"`
	FinishedAt  time.Time    `json:"finished_at,omitzero" msgpack:"finished_at"`
}

// DeadLetter is published when a submitted task cannot be parsed or validated.
type DeadLetter struct {
	V       int    `json:"v" msgpack:"v"`
	ID      string `json:"id,omitempty" msgpack:"id,omitempty"` // the Nats-Msg-Id, when there was one
	Code    Code   `json:"code" msgpack:"code"`
	Error   string `json:"error" msgpack:"error"`
	Payload []byte `json:"payload" msgpack:"payload"`
}
