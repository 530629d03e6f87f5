package sfctl

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// renderView writes the whole view: a summary line, then tasks, sandboxes
// and workers.
func renderView(w io.Writer, v fleetView) {
	fmt.Fprintf(w, "screenfleet at %s: %d task%s running or waiting, %d in all\n\n",
		v.at.Format(time.TimeOnly), v.activeTasks, plural(v.activeTasks), v.totalTasks)
	fmt.Fprintln(w, "TASKS")
	if len(v.tasks) == 0 {
		fmt.Fprintln(w, "  none yet")
	} else {
		taskTable(w, v.at, v.tasks)
	}
	fmt.Fprintln(w, "\nSANDBOXES")
	if v.sandboxErr != nil {
		fmt.Fprintf(w, "  %v\n", v.sandboxErr)
	} else {
		printSandboxes(w, v.at, v.sandboxes)
	}
	fmt.Fprintln(w, "\nWORKERS")
	if v.workersErr != nil {
		fmt.Fprintf(w, "  %v\n", v.workersErr)
	} else {
		printWorkers(w, v.workers)
	}
}

// lineScreen prints one timestamped line per change between views.
type lineScreen struct {
	out       io.Writer
	started   bool
	tasks     map[string]messages.TaskStatus
	sandboxes map[string]string // id → state
	workers   map[string]string // service id → worker name
	errs      map[string]string // section → last error text
}

func newLineScreen(out io.Writer) *lineScreen {
	return &lineScreen{out: out, tasks: map[string]messages.TaskStatus{},
		sandboxes: map[string]string{}, workers: map[string]string{}, errs: map[string]string{}}
}

func (l *lineScreen) show(v fleetView) {
	ts := v.at.Format(time.TimeOnly)
	if !l.started {
		l.started = true
		l.printf(ts, "watching: %d task%s running or waiting, %d in all", v.activeTasks,
			plural(v.activeTasks), v.totalTasks)
		l.primeEnded(v.tasks)
	}
	for _, st := range v.tasks {
		l.taskLines(ts, st)
	}
	l.errLine(ts, "sandboxes", v.sandboxErr)
	if v.sandboxErr == nil {
		l.sandboxLines(ts, v.sandboxes)
	}
	l.errLine(ts, "workers", v.workersErr)
	if v.workersErr == nil {
		l.workerLines(ts, v.workers)
	}
}

func (l *lineScreen) printf(ts, format string, args ...any) {
	fmt.Fprintf(l.out, ts+" "+format+"\n", args...)
}

// primeEnded records tasks that had ended before watching began, so that
// they are not reported as news.
func (l *lineScreen) primeEnded(ts []messages.TaskStatus) {
	for _, st := range ts {
		if st.State.Final() {
			l.tasks[st.ID] = st
		}
	}
}

func (l *lineScreen) taskLines(ts string, st messages.TaskStatus) {
	prev, seen := l.tasks[st.ID]
	l.tasks[st.ID] = st
	if seen && prev.Attempt != st.Attempt {
		prev.Steps = nil
	}
	for i := len(prev.Steps); seen && i < len(st.Steps); i++ {
		s := st.Steps[i]
		l.printf(ts, "task %s step %d/%d %s %s in %s", st.ID, s.Index+1, st.StepCount, s.Action,
			okText(s.OK), roundDur(s.Duration.D()))
	}
	if seen && prev.State == st.State && prev.Attempt == st.Attempt {
		return
	}
	switch {
	case st.State == messages.StateSucceeded:
		l.printf(ts, "task %s SUCCEEDED in %s", st.ID, taskDuration(time.Time{}, st))
	case st.State.Final():
		l.printf(ts, "task %s %s: %s", st.ID, strings.ToUpper(string(st.State)), reason(st))
	default:
		l.printf(ts, "task %s %s", st.ID, describeState(st))
	}
	if !seen {
		for _, s := range st.Steps {
			l.printf(ts, "task %s step %d/%d %s %s in %s", st.ID, s.Index+1, st.StepCount, s.Action,
				okText(s.OK), roundDur(s.Duration.D()))
		}
	}
}

func okText(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAILED"
}

func (l *lineScreen) sandboxLines(ts string, lists []messages.SandboxList) {
	now := map[string]string{}
	for _, list := range lists {
		for _, s := range list.Sandboxes {
			now[s.ID] = s.State
			if l.sandboxes[s.ID] != s.State {
				l.printf(ts, "sandbox %s %s (task %s, dispatcher %s, runtime %s)", s.ID, s.State, s.Task,
					list.Dispatcher, s.Runtime)
			}
		}
	}
	for id := range l.sandboxes {
		if _, ok := now[id]; !ok {
			l.printf(ts, "sandbox %s gone", id)
		}
	}
	l.sandboxes = now
}

func (l *lineScreen) workerLines(ts string, ws []workerInfo) {
	now := map[string]string{}
	for _, w := range ws {
		now[w.ID] = workerName(w)
		if _, known := l.workers[w.ID]; !known {
			l.printf(ts, "worker %s registered (gpu %s, models %s)", workerName(w),
				orDash(w.Metadata["gpu"]), orDash(strings.Join(models(w.Info), ",")))
		}
	}
	for id, name := range l.workers {
		if _, ok := now[id]; !ok {
			l.printf(ts, "worker %s gone", name)
		}
	}
	l.workers = now
}

// errLine reports a section that starts or stops failing, once each.
func (l *lineScreen) errLine(ts, section string, err error) {
	text := ""
	if err != nil {
		text = err.Error()
	}
	if l.errs[section] == text {
		return
	}
	if text == "" {
		l.printf(ts, "%s: answering again", section)
	} else {
		l.printf(ts, "%s: %s", section, text)
	}
	l.errs[section] = text
}
