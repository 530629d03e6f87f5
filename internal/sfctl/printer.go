package sfctl

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// printer writes task progress as it arrives, each step once.
type printer struct {
	out     io.Writer
	printed int
	state   messages.State
	attempt int
}

func newPrinter(out io.Writer) *printer { return &printer{out: out} }

// update prints what changed since the last status it saw.
func (p *printer) update(st messages.TaskStatus) {
	if st.Attempt != p.attempt && p.attempt != 0 {
		fmt.Fprintf(p.out, "  retrying: attempt %d (%s)\n", st.Attempt, st.Error)
		p.printed = 0
	}
	p.attempt = st.Attempt
	if st.State != p.state && !st.State.Final() {
		fmt.Fprintf(p.out, "  %s %s\n", st.ID, describeState(st))
	}
	p.state = st.State
	for ; p.printed < len(st.Steps); p.printed++ {
		p.step(st, st.Steps[p.printed])
	}
	if st.State.Final() {
		p.final(st)
	}
}

// full prints a status from the beginning.
func (p *printer) full(st messages.TaskStatus) {
	fmt.Fprintf(p.out, "task %s: %s (attempt %d)\n", st.ID, st.State, st.Attempt)
	fmt.Fprintf(p.out, "  submitted %s", st.SubmittedAt.Format(time.RFC3339))
	if st.Sandbox != "" {
		fmt.Fprintf(p.out, ", sandbox %s", st.Sandbox)
	}
	fmt.Fprintln(p.out)
	for _, s := range st.Steps {
		p.step(st, s)
	}
	if st.State.Final() {
		p.final(st)
	}
}

func (p *printer) step(st messages.TaskStatus, s messages.StepResult) {
	mark := "ok"
	if !s.OK {
		mark = "FAILED"
	}
	fmt.Fprintf(p.out, "  [%d/%d] %-13s %7s  %-6s %s\n", s.Index+1, st.StepCount, s.Action,
		roundDur(s.Duration.D()), mark, s.Detail)
	if s.Error != "" {
		fmt.Fprintf(p.out, "         %s\n", s.Error)
	}
	if line := stagesLine(s.Stages); line != "" {
		fmt.Fprintf(p.out, "         %s\n", line)
	}
}

// stagesLine says where a step's time went, stage by stage in the order a
// step goes through them.
func stagesLine(stages map[string]messages.Duration) string {
	var parts []string
	for _, name := range messages.StepStages() {
		if d, ok := stages[name]; ok {
			parts = append(parts, name+" "+stageDur(d.D()))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "time in " + strings.Join(parts, ", ")
}

func (p *printer) final(st messages.TaskStatus) {
	took := ""
	if !st.StartedAt.IsZero() && !st.FinishedAt.IsZero() {
		took = " in " + roundDur(st.FinishedAt.Sub(st.StartedAt))
	}
	fmt.Fprintf(p.out, "task %s %s%s\n", st.ID, strings.ToUpper(string(st.State)), took)
	if st.Error != "" {
		fmt.Fprintf(p.out, "  error: %s\n", st.Error)
	}
	if len(st.Seen) > 0 {
		fmt.Fprintf(p.out, "  seen on screen: %s\n", quoteAll(st.Seen, 12))
	}
}

func describeState(st messages.TaskStatus) string {
	switch st.State {
	case messages.StateAssigned:
		return "assigned to sandbox " + st.Sandbox
	case messages.StateRunning:
		return fmt.Sprintf("running (%d step%s)", st.StepCount, plural(st.StepCount))
	}
	return string(st.State)
}

func quoteAll(texts []string, max int) string {
	q := make([]string, 0, len(texts))
	for i, t := range texts {
		if i == max {
			q = append(q, fmt.Sprintf("… %d more", len(texts)-max))
			break
		}
		q = append(q, fmt.Sprintf("%q", t))
	}
	return strings.Join(q, ", ")
}

func roundDur(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

// stageDur is roundDur that does not round a short stage down to 0s.
func stageDur(d time.Duration) string {
	if d > 0 && d < time.Millisecond {
		return "<1ms"
	}
	return roundDur(d)
}
