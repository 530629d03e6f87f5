package target

// spotCell is the side of the grid cells that index kept candidates, in
// pixels: about two words of UI text, so a lookup touches few cells.
const spotCell = 64

// maxSpotCells is the most cells a box is filed under; larger boxes (a
// panel, a long line) go to a short list checked one by one.
const maxSpotCells = 64

// spots holds the candidates dedupe keeps, indexed by grid cell so that
// checking a new candidate against them costs little on a dense page.
type spots struct {
	kept  []candidate
	cells map[[2]int][]int // cell → indexes into kept
	big   []int
}

func newSpots() *spots { return &spots{cells: map[[2]int][]int{}} }

// taken reports whether c covers the same spot as a kept candidate.
func (s *spots) taken(c *candidate) bool {
	for _, i := range s.big {
		if sameSpot(c.box, s.kept[i].box) {
			return true
		}
	}
	x0, y0, x1, y1 := cellRange(c)
	if (x1-x0+1)*(y1-y0+1) > maxSpotCells {
		for i := range s.kept {
			if sameSpot(c.box, s.kept[i].box) {
				return true
			}
		}
		return false
	}
	for x := x0; x <= x1; x++ {
		for y := y0; y <= y1; y++ {
			for _, i := range s.cells[[2]int{x, y}] {
				if sameSpot(c.box, s.kept[i].box) {
					return true
				}
			}
		}
	}
	return false
}

// keep adds c to the kept candidates.
func (s *spots) keep(c candidate) {
	i := len(s.kept)
	s.kept = append(s.kept, c)
	x0, y0, x1, y1 := cellRange(&c)
	if (x1-x0+1)*(y1-y0+1) > maxSpotCells {
		s.big = append(s.big, i)
		return
	}
	for x := x0; x <= x1; x++ {
		for y := y0; y <= y1; y++ {
			s.cells[[2]int{x, y}] = append(s.cells[[2]int{x, y}], i)
		}
	}
}

// cellRange returns the cells c's box touches, inclusive.
func cellRange(c *candidate) (x0, y0, x1, y1 int) {
	b := c.box
	return floorDiv(b.X), floorDiv(b.Y), floorDiv(b.X + b.W), floorDiv(b.Y + b.H)
}

func floorDiv(v int) int {
	q := v / spotCell
	if v%spotCell != 0 && v < 0 {
		q--
	}
	return q
}
