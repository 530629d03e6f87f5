package e2e

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func containsFold(list []string, want string) bool {
	for _, s := range list {
		if strings.Contains(strings.ToLower(s), want) {
			return true
		}
	}
	return false
}
