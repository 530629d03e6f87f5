package recording

import (
	"cmp"
	"math"
	"slices"

	"github.com/screenfleet/screenfleet/internal/target"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// sameIoU pairs a recorded and a replayed box as the same thing: half
	// their union overlapping survives a few pixels of jitter on a word.
	sameIoU = 0.5
	// movedIoU is the overlap below which a paired box counts as moved; OCR
	// of identical pixels gives identical boxes, so anything under this is
	// a real change.
	movedIoU = 0.9
	// moveRadius pairs unpaired boxes with the same text whose centres are
	// this close (pixels) as one box that moved, not one removed and one
	// added: about two lines of text.
	moveRadius = 64
	// pointTolerance is how far (pixels) a target's point may move and
	// still count as the same choice.
	pointTolerance = 2
)

// ChangeKind says how a box changed between recording and replay.
type ChangeKind string

// The kinds of box change.
const (
	Added   ChangeKind = "added"
	Removed ChangeKind = "removed"
	Moved   ChangeKind = "moved"
	Text    ChangeKind = "text"
)

// Change is one box that differs between the recorded and replayed boxes.
type Change struct {
	Kind     ChangeKind   `json:"kind"`
	Recorded messages.Box `json:"recorded"`
	Replayed messages.Box `json:"replayed"`
	IoU      float64      `json:"iou"`
}

// BoxDiff compares the boxes of one frame.
type BoxDiff struct {
	Same, Added, Removed, Moved, Text int
	Changes                           []Change
}

// Changed reports whether any box differs.
func (d BoxDiff) Changed() bool { return len(d.Changes) > 0 }

// DiffBoxes pairs recorded and replayed boxes by overlap (IoU), then pairs
// what is left by equal text nearby, and reports what was added, removed,
// moved, or reads differently.
func DiffBoxes(recorded, replayed []messages.Box) BoxDiff {
	var d BoxDiff
	usedRec := make([]bool, len(recorded))
	usedRep := make([]bool, len(replayed))
	for _, p := range overlapPairs(recorded, replayed) {
		if usedRec[p.i] || usedRep[p.j] {
			continue
		}
		usedRec[p.i], usedRep[p.j] = true, true
		d.pair(recorded[p.i], replayed[p.j], p.iou)
	}
	for i, r := range recorded {
		if j := nearSameText(r, replayed, usedRep); !usedRec[i] && j >= 0 {
			usedRec[i], usedRep[j] = true, true
			d.pair(r, replayed[j], iou(r, replayed[j]))
		}
	}
	for i, r := range recorded {
		if !usedRec[i] {
			d.Removed++
			d.Changes = append(d.Changes, Change{Kind: Removed, Recorded: r})
		}
	}
	for j, r := range replayed {
		if !usedRep[j] {
			d.Added++
			d.Changes = append(d.Changes, Change{Kind: Added, Replayed: r})
		}
	}
	return d
}

// pair counts one recorded box and the replayed box it became.
func (d *BoxDiff) pair(rec, rep messages.Box, overlap float64) {
	switch {
	case rec.Text != rep.Text:
		d.Text++
		d.Changes = append(d.Changes, Change{Kind: Text, Recorded: rec, Replayed: rep, IoU: overlap})
	case overlap < movedIoU:
		d.Moved++
		d.Changes = append(d.Changes, Change{Kind: Moved, Recorded: rec, Replayed: rep, IoU: overlap})
	default:
		d.Same++
	}
}

type boxPair struct {
	i, j int
	iou  float64
}

// overlapPairs returns the pairs overlapping at least sameIoU, best first.
func overlapPairs(a, b []messages.Box) []boxPair {
	var out []boxPair
	for i := range a {
		for j := range b {
			if v := iou(a[i], b[j]); v >= sameIoU {
				out = append(out, boxPair{i, j, v})
			}
		}
	}
	slices.SortStableFunc(out, func(x, y boxPair) int { return cmp.Compare(y.iou, x.iou) })
	return out
}

// nearSameText returns the nearest unused box in bs with r's text within
// moveRadius, or -1.
func nearSameText(r messages.Box, bs []messages.Box, used []bool) int {
	best, bestDist := -1, math.Inf(1)
	for j, b := range bs {
		if used[j] || r.Text == "" || b.Text != r.Text || b.Level != r.Level {
			continue
		}
		dist := math.Hypot(float64(r.CenterX()-b.CenterX()), float64(r.CenterY()-b.CenterY()))
		if dist <= moveRadius && dist < bestDist {
			best, bestDist = j, dist
		}
	}
	return best
}

// iou is the intersection over union of two boxes.
func iou(a, b messages.Box) float64 {
	w := min(a.X+a.W, b.X+b.W) - max(a.X, b.X)
	h := min(a.Y+a.H, b.Y+b.H) - max(a.Y, b.Y)
	if w <= 0 || h <= 0 {
		return 0
	}
	inter := float64(w * h)
	return inter / (float64(a.W*a.H+b.W*b.H) - inter)
}

// TargetCheck says whether a recorded choice would be made again.
type TargetCheck struct {
	Action messages.ActionRecord `json:"action"`
	// Found is false when the target selects nothing among the replayed boxes.
	Found bool         `json:"found"`
	Box   messages.Box `json:"box"`
	X     int          `json:"x"`
	Y     int          `json:"y"`
	Error string       `json:"error,omitempty"`
	// Same reports whether the target is found at the recorded point.
	Same bool `json:"same"`
}

// CheckTarget selects a's target again among boxes (display pixels) and
// compares the point with the one recorded.
func CheckTarget(a messages.ActionRecord, boxes []messages.Box) TargetCheck {
	c := TargetCheck{Action: a}
	if a.Target == nil {
		c.Error = "no target recorded"
		return c
	}
	box, err := target.Select(boxes, a.Target)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	c.Found, c.Box = true, box
	c.X, c.Y = target.Point(box, a.Target)
	c.Same = abs(c.X-a.X) <= pointTolerance && abs(c.Y-a.Y) <= pointTolerance
	return c
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
