// Package sfctl is the user's command line: submitting and following tasks,
// and running the whole system in one process for a laptop (`sfctl dev`).
package sfctl

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/screenfleet/screenfleet/internal/natsconn"
)

// globals are the flags every command shares.
type globals struct {
	natsURL   string
	prefix    string
	logFormat string
	logLevel  string
	tls       natsconn.TLS
	out       io.Writer
	// now is the clock listings measure ages against; tests fix it.
	now func() time.Time
}

// NewRoot builds the sfctl command tree. out receives normal output.
func NewRoot(out io.Writer) *cobra.Command { return newRoot(out, time.Now) }

// newRoot is NewRoot with the clock the listings use.
func newRoot(out io.Writer, now func() time.Time) *cobra.Command {
	g := &globals{out: out, now: now}
	root := &cobra.Command{
		Use:   "sfctl",
		Short: "Run and follow screenfleet tasks",
		Long: `sfctl talks to a screenfleet system over NATS.

Start everything on one machine with 'sfctl dev', then submit a task from
another terminal with 'sfctl submit examples/tasks/login.json --wait'.
Every flag can also be set in the environment as SF_<FLAG> (SF_NATS_URL, ...).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.natsURL, "nats-url", "nats://127.0.0.1:4222", "NATS server URL")
	pf.StringVar(&g.prefix, "subject-prefix", "sf", "prefix of every screenfleet subject")
	pf.StringVar(&g.logFormat, "log-format", "auto", "log format: auto, json or console")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	g.tls.AddFlags(pf)
	root.AddCommand(newSubmitCmd(g), newStatusCmd(g), newTasksCmd(g), newWatchCmd(g), newSandboxesCmd(g),
		newWorkersCmd(g), newCancelCmd(g), newDevCmd(g), newDemoCmd(g),
		newReplayCmd(g), newExportCmd(g))
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		return applyEnv(cmd.Flags())
	}
	return root
}

// Execute runs sfctl with args and returns the process exit code.
func Execute(ctx context.Context, args []string) int {
	root := NewRoot(os.Stdout)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "sfctl:", errorText(err))
	return exitStatus(err)
}

// errorText is err's message without the "nats: nats: " that nats.go
// writes when it wraps one of its own errors in another.
func errorText(err error) string {
	msg := err.Error()
	for strings.Contains(msg, "nats: nats: ") {
		msg = strings.ReplaceAll(msg, "nats: nats: ", "nats: ")
	}
	return msg
}

// applyEnv fills every flag the user did not set from SF_<NAME>, with dashes
// as underscores (--nats-url from SF_NATS_URL).
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, e)
			}
		}
	})
	return err
}
