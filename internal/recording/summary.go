package recording

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteSummary prints one row per replayed frame and the totals: boxes
// kept, added, removed, moved and re-read, and each recorded target with
// whether it would be chosen at the same point.
func WriteSummary(w io.Writer, res *Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tFRAME\tMODEL\tREC\tNOW\tSAME\tADDED\tREMOVED\tMOVED\tTEXT\tTOOK\tTARGET")
	for _, f := range res.Frames {
		d := f.Diff
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", stepOf(f), frameOf(f), f.Model,
			recordedCount(f), len(f.Replayed), d.Same, d.Added, d.Removed, d.Moved, d.Text,
			f.Took.Round(time.Millisecond), targetCell(f))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d frames replayed in %s: %d changed; %d recorded targets, %d changed\n",
		len(res.Frames), res.Took.Round(time.Millisecond), res.FramesChanged(), countTargets(res),
		res.TargetsChanged())
	for _, m := range res.Recording.Missing {
		fmt.Fprintf(w, "missing: frame %d of %s (step %d) was dropped by the stream's limits\n",
			m.FrameSeq, m.Task, m.Step+1)
	}
	return nil
}

func stepOf(f *FrameResult) string {
	if f.Recorded.Detections == nil {
		return "-"
	}
	return fmt.Sprint(f.Recorded.Detections.Step + 1)
}

func frameOf(f *FrameResult) string {
	return fmt.Sprintf("%s#%d", f.Recorded.Frame.Task, f.Recorded.Frame.Seq)
}

func recordedCount(f *FrameResult) string {
	switch {
	case f.Recorded.Detections == nil:
		return "?"
	case !f.Recorded.Detections.Ran():
		return "failed"
	}
	return fmt.Sprint(len(f.Recorded.Detections.Boxes))
}

func targetCell(f *FrameResult) string {
	if f.Error != "" {
		return "replay failed: " + f.Error
	}
	out := ""
	for i, c := range f.Targets {
		if i > 0 {
			out += "; "
		}
		out += describeCheck(c)
	}
	if out == "" {
		return "-"
	}
	return out
}

// describeCheck says in a few words what became of a recorded target.
func describeCheck(c TargetCheck) string {
	a := c.Action
	switch {
	case !c.Found:
		return fmt.Sprintf("CHANGED %s: was (%d,%d), now not found", a.Target, a.X, a.Y)
	case !c.Same:
		return fmt.Sprintf("CHANGED %s: was (%d,%d), now (%d,%d)", a.Target, a.X, a.Y, c.X, c.Y)
	}
	return fmt.Sprintf("same %s at (%d,%d)", a.Target, c.X, c.Y)
}

func countTargets(res *Result) int {
	n := 0
	for _, f := range res.Frames {
		n += len(f.Targets)
	}
	return n
}
