package target

import (
	"math"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

func union(a, b messages.Box) messages.Box {
	x0, y0 := min(a.X, b.X), min(a.Y, b.Y)
	x1, y1 := max(a.X+a.W, b.X+b.W), max(a.Y+a.H, b.Y+b.H)
	a.X, a.Y, a.W, a.H = x0, y0, x1-x0, y1-y0
	return a
}

// span is the overlap of the intervals [a0,a1) and [b0,b1); negative when apart.
func span(a0, a1, b0, b1 int) int { return min(a1, b1) - max(a0, b0) }

func vOverlap(a, b messages.Box) int { return span(a.Y, a.Y+a.H, b.Y, b.Y+b.H) }

func hOverlap(a, b messages.Box) int { return span(a.X, a.X+a.W, b.X, b.X+b.W) }

func area(b messages.Box) float64 { return float64(b.W) * float64(b.H) }

func intersection(a, b messages.Box) float64 {
	w, h := hOverlap(a, b), vOverlap(a, b)
	if w <= 0 || h <= 0 {
		return 0
	}
	return float64(w) * float64(h)
}

// inside reports whether the point (x, y) lies in b.
func inside(x, y int, b messages.Box) bool {
	return x >= b.X && x < b.X+b.W && y >= b.Y && y < b.Y+b.H
}

// sameSpot reports whether a and b cover mostly the same place: their
// intersection is at least half of the smaller box. "Sign", "Sign in" and the
// line "Sign in" are one spot; two neighbouring words are not.
func sameSpot(a, b messages.Box) bool {
	small := math.Min(area(a), area(b))
	if small <= 0 {
		return inside(a.CenterX(), a.CenterY(), b) || inside(b.CenterX(), b.CenterY(), a)
	}
	return intersection(a, b) >= small/2
}

func centreDistance(a, b messages.Box) float64 {
	return math.Hypot(float64(a.CenterX()-b.CenterX()), float64(a.CenterY()-b.CenterY()))
}
