package sfctl

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/screenfleet/screenfleet/internal/logging"
	"github.com/screenfleet/screenfleet/internal/recording"
)

// replayOpts are the flags of `sfctl replay`.
type replayOpts struct {
	sandbox      string
	from, to     string
	model        string
	worker       string
	pace         bool
	html         string
	frameTimeout time.Duration
}

func newReplayCmd(g *globals) *cobra.Command {
	var o replayOpts
	cmd := &cobra.Command{
		Use:   "replay [TASK_ID]",
		Short: "Send a recorded task's frames through today's workers and show what changed",
		Long: `replay reads the frames a task sent for inference (stream FRAMES) and what
was recorded about them (stream RECORDS), sends the frames through the workers
running now, and compares: boxes added, removed, moved (by IoU) or read
differently, and whether each target the task chose would be chosen again at
the same point. It prints a table and exits with status 1 when a chosen
target changed, so it can gate a model upgrade in CI, and with status 3 when
there is nothing to replay (not recorded, or the frames were dropped by the
FRAMES stream's limits).

Select a task by id, or a sandbox and a time range (--sandbox, --from, --to).`,
		Example: `  sfctl replay login-001
  sfctl replay login-001 --model ocr-next --html report/
  sfctl replay --sandbox sb-3f2a --from 10m --to 5m --pace`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sel, err := o.selection(args, time.Now())
			if err != nil {
				return withExit(2, err)
			}
			return runReplay(cmd, g, o, sel)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.sandbox, "sandbox", "", "replay this sandbox's frames (with --from and --to) instead of a task")
	f.StringVar(&o.from, "from", "", "start of the range: RFC 3339 time, or a duration ago (10m)")
	f.StringVar(&o.to, "to", "", "end of the range: RFC 3339 time, or a duration ago (default: now)")
	f.StringVar(&o.model, "model", "", "send the frames to this model instead of the one recorded")
	f.StringVar(&o.worker, "worker", "", "send the frames to this one worker (an id from 'sfctl workers') instead of any")
	f.BoolVar(&o.pace, "pace", false, "replay at the original pace instead of as fast as possible")
	f.StringVar(&o.html, "html", "", "write a self-contained HTML report into this folder")
	f.DurationVar(&o.frameTimeout, "frame-timeout", recording.DefaultFrameTimeout,
		"how long one frame may take, retries included")
	return cmd
}

// selection turns the arguments into what to load.
func (o replayOpts) selection(args []string, now time.Time) (recording.Selection, error) {
	switch {
	case len(args) == 1 && o.sandbox != "":
		return recording.Selection{}, fmt.Errorf("give a task id or --sandbox, not both")
	case len(args) == 1:
		return recording.Selection{Task: args[0]}, nil
	case o.sandbox == "" || o.from == "":
		return recording.Selection{}, fmt.Errorf("give a task id, or --sandbox with --from")
	}
	from, err := parseWhen(o.from, now)
	if err != nil {
		return recording.Selection{}, fmt.Errorf("--from: %w", err)
	}
	to := now
	if o.to != "" {
		if to, err = parseWhen(o.to, now); err != nil {
			return recording.Selection{}, fmt.Errorf("--to: %w", err)
		}
	}
	return recording.Selection{Sandbox: o.sandbox, From: from, To: to}, nil
}

// parseWhen reads an RFC 3339 time or a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
	}
	return t, nil
}

func runReplay(cmd *cobra.Command, g *globals, o replayOpts, sel recording.Selection) error {
	c, err := g.connect()
	if err != nil {
		return err
	}
	defer c.close()
	ctx := cmd.Context()
	rec, err := recording.Load(ctx, c.js, c.sub, sel)
	if err != nil {
		return loadExit(err)
	}
	p := recording.NewReplayer(c.nc, c.sub, logging.New("sfctl", g.logFormat, g.logLevel))
	res, err := p.Replay(ctx, rec, recording.ReplayConfig{Model: o.model, Worker: o.worker,
		Pace: o.pace, FrameTimeout: o.frameTimeout})
	if err != nil {
		return err
	}
	if err := recording.WriteSummary(g.out, res); err != nil {
		return err
	}
	if o.html != "" {
		path, err := recording.WriteReport(o.html, res)
		if err != nil {
			return err
		}
		fmt.Fprintf(g.out, "report: %s\n", path)
	}
	if n := res.TargetsChanged(); n > 0 {
		return withExit(1, fmt.Errorf("%d recorded targets would no longer be chosen at the same point", n))
	}
	return nil
}

// exitNothingToReplay is the exit status when the selection has no frames.
const exitNothingToReplay = 3

// loadExit gives a failed load its exit status.
func loadExit(err error) error {
	if errors.Is(err, recording.ErrNothingRecorded) || errors.Is(err, recording.ErrFramesDropped) {
		return withExit(exitNothingToReplay, err)
	}
	return err
}

// recordFlags are the recording settings of `sfctl dev`.
type recordFlags struct {
	mode     string
	maxAge   time.Duration
	maxBytes int64
}

func (r *recordFlags) flags(f *pflag.FlagSet) {
	f.StringVar(&r.mode, "record", string(recording.ModeTask),
		"which runs to record for replay: all, task (as each task's \"record\" field says) or off")
	f.DurationVar(&r.maxAge, "record-max-age", recording.DefaultMaxAge, "drop recorded frames older than this")
	f.Int64Var(&r.maxBytes, "record-max-bytes", recording.DefaultMaxBytes,
		"drop the oldest recorded frames beyond this many bytes")
}

func (r *recordFlags) config() recording.Config {
	return recording.Config{Mode: recording.Mode(r.mode), MaxAge: r.maxAge, MaxBytes: r.maxBytes}
}
