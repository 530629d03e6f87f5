package sfctl

import (
	"errors"
	"strings"
)

// exitError is an error that sets the process exit status: 1 for a task that
// failed, 2 for input that was refused.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withExit gives err the exit status code.
func withExit(code int, err error) error { return &exitError{code: code, err: err} }

// exitStatus is the process exit status for err: its own, else 1.
func exitStatus(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func envName(flag string) string {
	return "SF_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}
