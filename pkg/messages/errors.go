package messages

import (
	"errors"
	"fmt"
)

// Code is a numeric error code that crosses process boundaries. Each code maps
// back to one sentinel so that errors.Is works on the receiving side.
type Code int

// The error codes. Numbers are part of the wire format: never renumber.
const (
	CodeOK              Code = 0
	CodeInvalidTask     Code = 100
	CodeBadFrame        Code = 101
	CodeFrameTooLarge   Code = 102
	CodeUnknownModel    Code = 200
	CodeBackendNotReady Code = 201
	CodeInferFailed     Code = 202
	CodeTargetNotFound  Code = 300
	CodeAssertFailed    Code = 301
	CodeActionFailed    Code = 302
	CodeAppFailed       Code = 303
	CodeDeadline        Code = 400
	CodeSandboxFailed   Code = 401
	CodeCancelled       Code = 402
	CodeInternal        Code = 500
)

// Sentinels, one per code.
var (
	ErrInvalidTask     = errors.New("invalid task")
	ErrBadFrame        = errors.New("bad frame")
	ErrFrameTooLarge   = errors.New("frame too large")
	ErrUnknownModel    = errors.New("unknown model")
	ErrBackendNotReady = errors.New("inference backend not ready")
	ErrInferFailed     = errors.New("inference failed")
	ErrTargetNotFound  = errors.New("target not found")
	ErrAssertFailed    = errors.New("assertion failed")
	ErrActionFailed    = errors.New("action failed")
	ErrAppFailed       = errors.New("app failed")
	ErrDeadline        = errors.New("task deadline exceeded")
	ErrSandboxFailed   = errors.New("sandbox failed")
	ErrCancelled       = errors.New("task cancelled")
	ErrInternal        = errors.New("internal error")
)

var codeSentinels = map[Code]error{
	CodeInvalidTask: ErrInvalidTask, CodeBadFrame: ErrBadFrame, CodeFrameTooLarge: ErrFrameTooLarge,
	CodeUnknownModel: ErrUnknownModel, CodeBackendNotReady: ErrBackendNotReady,
	CodeInferFailed: ErrInferFailed, CodeTargetNotFound: ErrTargetNotFound,
	CodeAssertFailed: ErrAssertFailed, CodeActionFailed: ErrActionFailed, CodeAppFailed: ErrAppFailed,
	CodeDeadline: ErrDeadline, CodeSandboxFailed: ErrSandboxFailed, CodeCancelled: ErrCancelled,
	CodeInternal: ErrInternal,
}

// Error is an error with a wire code. It matches its code's sentinel with errors.Is.
type Error struct {
	Code Code
	Msg  string
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

// Is reports whether target is the sentinel for e's code.
func (e *Error) Is(target error) bool {
	s, ok := codeSentinels[e.Code]
	return ok && s == target
}

// Errorf builds an *Error with a code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf finds the wire code of err: its own code if it is an *Error, else the
// code of the first sentinel it wraps, else CodeInternal. nil is CodeOK.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	for code, s := range codeSentinels {
		if errors.Is(err, s) {
			return code
		}
	}
	return CodeInternal
}

// FromWire rebuilds an error from a code and message received over the wire.
func FromWire(code Code, msg string) error {
	if code == CodeOK && msg == "" {
		return nil
	}
	if code == CodeOK {
		code = CodeInternal
	}
	return &Error{Code: code, Msg: msg}
}

func invalid(format string, args ...any) error {
	return Errorf(CodeInvalidTask, format, args...)
}

var codeNames = map[Code]string{
	CodeOK: "ok", CodeInvalidTask: "invalid_task", CodeBadFrame: "bad_frame",
	CodeFrameTooLarge: "frame_too_large", CodeUnknownModel: "unknown_model",
	CodeBackendNotReady: "backend_not_ready", CodeInferFailed: "infer_failed",
	CodeTargetNotFound: "target_not_found", CodeAssertFailed: "assert_failed",
	CodeActionFailed: "action_failed", CodeAppFailed: "app_failed", CodeDeadline: "deadline",
	CodeSandboxFailed: "sandbox_failed", CodeCancelled: "cancelled", CodeInternal: "internal",
}

// Name returns the code's name in snake case ("target_not_found"), and
// "unknown" for a number outside the table. The names are a small fixed set,
// fit for a metric label.
func (c Code) Name() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return "unknown"
}

// Codes returns every known code, in no particular order.
func Codes() []Code {
	out := make([]Code, 0, len(codeNames))
	for c := range codeNames {
		out = append(out, c)
	}
	return out
}
