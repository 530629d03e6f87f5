// Command fakeagent stands in for agentd in the sandbox runtime's tests. It
// accepts agentd's flags, records them, starts two child processes (one in
// its own process group, as an app launcher might) and waits for SIGTERM.
// FAKEAGENT_MODE changes that: "exit2" exits with status 2 at once,
// "stubborn" ignores SIGTERM so that only SIGKILL ends it, "zombies" also
// starts three short commands and never reaps them.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

func main() {
	fs := flag.NewFlagSet("fakeagent", flag.ExitOnError)
	workDir := fs.String("work-dir", "", "")
	for _, name := range []string{"nats-url", "sandbox", "display", "subject-prefix", "http-addr", "log-format"} {
		fs.String(name, "", "")
	}
	_ = fs.Parse(os.Args[1:])
	fmt.Fprintln(os.Stderr, "fakeagent starting:", strings.Join(os.Args[1:], " "))

	mode := os.Getenv("FAKEAGENT_MODE")
	if mode == "exit2" {
		fmt.Fprintln(os.Stderr, "fakeagent: giving up")
		os.Exit(2)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)

	same := exec.Command("sleep", "1000")
	own := exec.Command("sleep", "1001")
	own.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	for _, c := range []*exec.Cmd{same, own} {
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if mode == "zombies" {
		for range 3 {
			if err := exec.Command("true").Start(); err != nil { // never waited for
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
	info := fmt.Sprintf("%d %d %d\n%s\n%s\n%s\n", os.Getpid(), same.Process.Pid, own.Process.Pid,
		strings.Join(os.Args[1:], " "), os.Getenv("DISPLAY"), os.Getenv("SF_NATS_URL"))
	tmp := filepath.Join(*workDir, "pids.tmp")
	_ = os.WriteFile(tmp, []byte(info), 0o600)
	_ = os.Rename(tmp, filepath.Join(*workDir, "pids"))
	for range term {
		if mode != "stubborn" {
			break
		}
		fmt.Fprintln(os.Stderr, "fakeagent: ignoring SIGTERM")
	}
	fmt.Fprintln(os.Stderr, "fakeagent: terminated")
}
