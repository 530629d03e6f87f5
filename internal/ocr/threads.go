package ocr

import (
	"fmt"
	"os"
	"syscall"
)

// ThreadLimitEnv is the variable libgomp reads, once, when a process starts.
const ThreadLimitEnv = "OMP_THREAD_LIMIT"

// ReexecWithThreadLimit replaces the process with itself, OMP_THREAD_LIMIT=1
// added, when the variable is not set. Tesseract's OpenMP threads make OCR
// three to four times slower when one engine runs per core, and setting the
// variable from Go is too late. It returns only on failure or when nothing
// needs doing; a process that runs Tesseract calls it first thing in main.
func ReexecWithThreadLimit() error {
	if _, set := os.LookupEnv(ThreadLimitEnv); set {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable to re-exec with %s=1: %w", ThreadLimitEnv, err)
	}
	env := append(os.Environ(), ThreadLimitEnv+"=1")
	if err := syscall.Exec(exe, os.Args, env); err != nil {
		return fmt.Errorf("re-exec with %s=1: %w", ThreadLimitEnv, err)
	}
	return nil
}
