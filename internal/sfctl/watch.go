package sfctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

type watchOpts struct {
	interval time.Duration
	limit    int
	plain    bool
}

func newWatchCmd(g *globals) *cobra.Command {
	var o watchOpts
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Watch tasks, sandboxes and workers live",
		Long: `watch follows the fleet until interrupted. On a terminal it redraws one
screen in place: the tasks running and the latest ended ones, every
dispatcher's sandboxes, and the registered workers. Elsewhere (a pipe, a
file, --plain) it prints one timestamped line per change instead.`,
		Example: `  sfctl watch
  sfctl watch --plain | tee fleet.log
  sfctl watch --interval 5s --limit 30`,
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWatch(cmd.Context(), g, o)
		},
	}
	cmd.Flags().DurationVar(&o.interval, "interval", time.Second, "how often sandboxes and workers are polled")
	cmd.Flags().IntVarP(&o.limit, "limit", "n", 10, "ended tasks shown besides the running ones")
	cmd.Flags().BoolVar(&o.plain, "plain", false, "print change lines even on a terminal")
	return cmd
}

// fleetView is what watch shows at one moment.
type fleetView struct {
	at          time.Time
	tasks       []messages.TaskStatus // active ones first, then the latest ended
	sandboxes   []messages.SandboxList
	sandboxErr  error
	workers     []workerInfo
	workersErr  error
	totalTasks  int
	activeTasks int
}

func runWatch(ctx context.Context, g *globals, o watchOpts) error {
	if o.interval <= 0 {
		return withExit(2, errors.New("--interval must be positive"))
	}
	c, kv, err := g.connectTasks(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch task states: %w", err)
	}
	defer func() { _ = w.Stop() }()
	return watchLoop(ctx, g, c, w, o, newScreen(g.out, o.plain))
}

// watchLoop applies task updates as they come and polls the rest every
// interval, handing each view to the screen. Ctrl-C is the normal end.
func watchLoop(ctx context.Context, g *globals, c *conn, w jetstream.KeyWatcher, o watchOpts,
	s screen) error {
	tasks := map[string]messages.TaskStatus{}
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	var last fleetView
	primed := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok && ctx.Err() != nil {
				return nil
			}
			if !ok {
				return errors.New("task watch ended: the NATS connection closed")
			}
			if e == nil {
				primed = true
				if last = pollFleet(ctx, g, c, tasks, o.limit); ctx.Err() != nil {
					return nil
				}
				s.show(last)
				continue
			}
			applyUpdate(tasks, e)
			if primed {
				last.tasks, last.totalTasks, last.activeTasks = pickTasks(tasks, o.limit)
				last.at = g.now()
				s.show(last)
			}
		case <-tick.C:
			if !primed {
				continue
			}
			if last = pollFleet(ctx, g, c, tasks, o.limit); ctx.Err() != nil {
				return nil
			}
			s.show(last)
		}
	}
}

func applyUpdate(tasks map[string]messages.TaskStatus, e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		delete(tasks, e.Key())
		return
	}
	var st messages.TaskStatus
	if messages.Decode(e.Value(), &st) == nil {
		tasks[e.Key()] = st
	}
}

// pollFleet asks the dispatchers and workers for their state.
func pollFleet(ctx context.Context, g *globals, c *conn, tasks map[string]messages.TaskStatus,
	limit int) fleetView {
	v := fleetView{at: g.now()}
	v.tasks, v.totalTasks, v.activeTasks = pickTasks(tasks, limit)
	v.sandboxes, v.sandboxErr = listSandboxes(ctx, c)
	v.workers, v.workersErr = listWorkers(ctx, c, "")
	return v
}

// pickTasks returns every task that has not ended, then the limit latest
// ended ones, each group newest first.
func pickTasks(tasks map[string]messages.TaskStatus, limit int) (shown []messages.TaskStatus, total,
	active int) {
	var ended []messages.TaskStatus
	for _, st := range tasks {
		if st.State.Final() {
			ended = append(ended, st)
		} else {
			shown = append(shown, st)
		}
	}
	active = len(shown)
	sortNewestFirst(shown)
	sortNewestFirst(ended)
	if len(ended) > limit {
		ended = ended[:limit]
	}
	return append(shown, ended...), len(tasks), active
}

// screen shows successive views.
type screen interface{ show(fleetView) }

// newScreen redraws in place on a terminal and prints change lines
// elsewhere or when plain is set.
func newScreen(out io.Writer, plain bool) screen {
	if f, ok := out.(*os.File); ok && !plain && isatty.IsTerminal(f.Fd()) {
		return &termScreen{out: out}
	}
	return newLineScreen(out)
}

// termScreen redraws the whole view at the top of the terminal.
type termScreen struct{ out io.Writer }

// show draws over the previous view without clearing the screen first,
// which would flicker: home the cursor, end each line by erasing the rest of
// it, and erase what a longer previous view left below.
func (t *termScreen) show(v fleetView) {
	var b strings.Builder
	renderView(&b, v)
	fmt.Fprint(t.out, "\x1b[H"+strings.ReplaceAll(b.String(), "\n", "\x1b[K\n")+"\x1b[J")
}
