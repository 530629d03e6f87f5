// Command steps measures the agent's step loop on the example tasks: it
// runs each example task several times in Firefox, once in the fast
// configuration (the workers' region cache, which reads only the regions
// that changed, and the agents' default sfraw frames) and once in the
// baseline (every frame sent whole, PNG frames), and prints the per-step
// time in each stage, p50 and p95, for both, with their ratio. The first
// step of every task (which waits for Firefox to start) is left out. Every
// task must succeed in both configurations, so every label the tasks
// target was found in both. Each configuration gets a stack of its own:
// embedded NATS, inferd, one worker, a dispatcher running sandboxes as
// processes, and the example site.
//
//	go run ./bench/steps -runs 3
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() { os.Exit(run(os.Args[1:])) }

type options struct {
	runs    int
	tasks   string
	site    string
	timeout time.Duration
}

func run(args []string) int {
	var o options
	fs := flag.NewFlagSet("steps", flag.ContinueOnError)
	fs.IntVar(&o.runs, "runs", 3, "runs of each example task per configuration")
	fs.StringVar(&o.tasks, "tasks", "examples/tasks", "directory of example tasks")
	fs.StringVar(&o.site, "site", "examples/site", "directory of the example pages")
	fs.DurationVar(&o.timeout, "task-timeout", 3*time.Minute, "bound on one task")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "steps:", err)
		return 1
	}
	return 0
}

// configs are the two configurations measured, baseline first.
var configs = []struct {
	name       string
	fullFrames bool
}{{"baseline (full frame, PNG)", true}, {"fast (changed regions only, sfraw)", false}}

func bench(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "sf-steps-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	agentd := filepath.Join(dir, "agentd")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", agentd,
		"./cmd/agentd").CombinedOutput(); err != nil {
		return fmt.Errorf("build agentd: %w\n%s", err, out)
	}
	siteURL, closeSite, err := serveSite(o.site)
	if err != nil {
		return err
	}
	defer closeSite()
	tasks, err := loadTasks(o.tasks, siteURL)
	if err != nil {
		return err
	}
	results := make([]*samples, len(configs))
	for i, c := range configs {
		fmt.Fprintf(os.Stderr, "steps: %s: %d runs of %d tasks\n", c.name, o.runs, len(tasks))
		if results[i], err = measure(ctx, o, filepath.Join(dir, fmt.Sprint(i)), agentd, c.fullFrames,
			tasks); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	report(os.Stdout, results[0], results[1])
	return nil
}

// serveSite serves the example pages on a free loopback port.
func serveSite(dir string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}
