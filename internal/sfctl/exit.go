package sfctl

import (
	"errors"
	"fmt"
	"strings"
)

// exitCode is an error that carries the process exit status: 1 for a task
// that failed, 2 for a task that was refused.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func asExitCode(err error, ec *exitCode) bool { return errors.As(err, ec) }

func envName(flag string) string {
	return "SF_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}
