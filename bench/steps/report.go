package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// stages are the step stages reported, then the step's whole time, the
// time of the steps that sent a frame and of those that did not, and the
// time of a whole task (its steps after the first, together).
// publish_to_reply holds transport, worker queue and recognition.
var stages = append(messages.StepStages(), "step", "step with a frame", "step without", "task")

// samples are stage times by stage, one per step measured.
type samples struct{ by map[string][]time.Duration }

func newSamples() *samples { return &samples{by: map[string][]time.Duration{}} }

// add records every step but the first, which waits for Firefox to start.
// A stage counts only in the steps that went through it: a type step sends
// no frame, an assert does not act.
func (s *samples) add(steps []messages.StepResult) {
	var task time.Duration
	for _, st := range steps[min(1, len(steps)):] {
		for _, name := range messages.StepStages() {
			if d := time.Duration(st.Stages[name]); d > 0 {
				s.by[name] = append(s.by[name], d)
			}
		}
		d := time.Duration(st.Duration)
		s.by["step"] = append(s.by["step"], d)
		kind := "step without"
		if st.Stages["publish_to_reply"] > 0 {
			kind = "step with a frame"
		}
		s.by[kind] = append(s.by[kind], d)
		task += d
	}
	s.by["task"] = append(s.by["task"], task)
}

// quantile returns the q-quantile of name's times (nearest rank).
func (s *samples) quantile(name string, q float64) time.Duration {
	v := slices.Clone(s.by[name])
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[min(len(v)-1, int(q*float64(len(v))))]
}

// report prints one row per stage: p50 and p95 of each configuration and
// the baseline's p50 over the fast one's.
func report(w io.Writer, base, fast *samples) {
	fmt.Fprintf(w, "steps measured: baseline %d, fast %d (first step of each task left out)\n\n",
		len(base.by["step"]), len(fast.by["step"]))
	fmt.Fprintf(w, "| stage | baseline n | baseline p50 | baseline p95 | fast n | fast p50 | fast p95 | p50 ratio |\n")
	fmt.Fprintf(w, "| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, name := range stages {
		b50, f50 := base.quantile(name, 0.5), fast.quantile(name, 0.5)
		ratio := "-"
		if f50 > 0 {
			ratio = fmt.Sprintf("%.1fx", float64(b50)/float64(f50))
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %d | %s | %s | %s |\n", name, len(base.by[name]), ms(b50),
			ms(base.quantile(name, 0.95)), len(fast.by[name]), ms(f50), ms(fast.quantile(name, 0.95)), ratio)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
