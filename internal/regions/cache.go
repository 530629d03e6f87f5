package regions

import (
	"image"
	"slices"
	"sync"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Pad is how many unchanged pixels a region takes around its changed tiles
// and the lines it grows to: Tesseract needs a little blank margin around
// a line to find it.
const Pad = 12

// DefaultMaxEntries bounds how many sandboxes a Cache remembers: with about
// 100 lines each this is a few megabytes, far more sandboxes than a worker
// serves at once.
const DefaultMaxEntries = 4096

// Cache keeps, per key (a sandbox and model), the tiles of the last frame
// recognised and the text lines found on it. It is safe for concurrent use.
type Cache struct {
	max     int
	mu      sync.Mutex
	tick    uint64
	entries map[string]*entry
}

type entry struct {
	grid  *messages.TileGrid
	lines [][]messages.Box // each: a line box, then its words
	used  uint64
}

// New returns a cache holding at most max keys (DefaultMaxEntries when
// max <= 0); the least recently used is forgotten first.
func New(max int) *Cache {
	if max <= 0 {
		max = DefaultMaxEntries
	}
	return &Cache{max: max, entries: map[string]*entry{}}
}

// Plan says what of a frame must be recognised.
type Plan struct {
	key  string
	grid *messages.TileGrid
	kept [][]messages.Box
	// Regions are the rectangles to recognise, in frame pixels. Empty: the
	// frame is unchanged and Commit(nil) returns the cached boxes. One
	// region covering the whole frame: nothing could be reused.
	Regions []image.Rectangle
}

// Full reports whether the plan recognises the whole frame.
func (p *Plan) Full() bool {
	return len(p.Regions) == 1 && p.Regions[0] == image.Rect(0, 0, p.grid.Width, p.grid.Height)
}

// Plan compares grid with the last frame committed under key and returns the
// regions to recognise. An invalid grid, or one of another size or tiling,
// plans the whole frame.
func (c *Cache) Plan(key string, grid *messages.TileGrid) *Plan {
	return c.PlanGrow(key, grid, nil)
}

// PlanGrow is Plan with grow, when not nil, applied to every region as it
// is formed (and again whenever it grows): a caller that has the frame's
// pixels widens regions whose edges cut through text or a control. grow
// must return a rectangle that contains its argument, within the frame.
func (c *Cache) PlanGrow(key string, grid *messages.TileGrid,
	grow func(image.Rectangle) image.Rectangle) *Plan {
	p := &Plan{key: key, grid: grid}
	c.mu.Lock()
	e := c.entries[key]
	c.mu.Unlock()
	full := []image.Rectangle{image.Rect(0, 0, grid.Width, grid.Height)}
	if e == nil || !sameTiling(e.grid, grid) {
		p.Regions = full
		return p
	}
	p.Regions, p.kept = changedRects(e.grid, grid, e.lines, grow)
	if covered(p.Regions) >= fullShare*float64(grid.Width*grid.Height) {
		p.Regions, p.kept = full, nil
	}
	return p
}

func sameTiling(a, b *messages.TileGrid) bool {
	return a.Valid() && b.Valid() && a.Size == b.Size && a.Width == b.Width && a.Height == b.Height
}

// Commit merges the boxes found in each of p's regions (found[i] in the
// coordinates of a crop of p.Regions[i]) with the lines p kept, remembers the
// result under p's key and returns it: line boxes followed by their words,
// in reading order, lines numbered from 1.
func (c *Cache) Commit(p *Plan, found [][]messages.Box) []messages.Box {
	lines := slices.Clone(p.kept)
	for i, r := range p.Regions {
		if i >= len(found) {
			break
		}
		for _, l := range group(found[i]) {
			for j := range l {
				l[j].X += r.Min.X
				l[j].Y += r.Min.Y
			}
			lines = append(lines, l)
		}
	}
	slices.SortStableFunc(lines, func(a, b []messages.Box) int {
		if a[0].Y != b[0].Y {
			return a[0].Y - b[0].Y
		}
		return a[0].X - b[0].X
	})
	out := make([]messages.Box, 0, len(lines)*4)
	for n, l := range lines {
		for _, b := range l {
			b.Line = n + 1
			out = append(out, b)
		}
	}
	c.store(p.key, &entry{grid: p.grid, lines: lines})
	return out
}

func (c *Cache) store(key string, e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	e.used = c.tick
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		oldest, at := "", ^uint64(0)
		for k, v := range c.entries {
			if v.used < at {
				oldest, at = k, v.used
			}
		}
		delete(c.entries, oldest)
	}
	c.entries[key] = e
}

// Forget drops key's entry.
func (c *Cache) Forget(key string) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

// group splits boxes into lines: a line-level box starts a line and the
// boxes after it belong to it; a box with no line before it is a line alone.
// Each line is a fresh slice.
func group(boxes []messages.Box) [][]messages.Box {
	var out [][]messages.Box
	for _, b := range boxes {
		if b.Level == "line" || len(out) == 0 || b.Level == "" {
			out = append(out, []messages.Box{b})
			continue
		}
		out[len(out)-1] = append(out[len(out)-1], b)
	}
	return out
}

// fullShare is the share of a frame past which its regions are read as one
// whole frame instead: most of the page changed (a navigation), and one
// page-level read is cheaper than many crops' set-up.
const fullShare = 0.6

// changedRects returns the regions to recognise again (the changed tiles
// grown by Pad, joined while they overlap, grown by grow when not nil, and
// grown to every cached line they touch, with Pad around it) and the cached
// lines that touch none.
func changedRects(old, cur *messages.TileGrid, lines [][]messages.Box,
	grow func(image.Rectangle) image.Rectangle) ([]image.Rectangle, [][]messages.Box) {
	bounds := image.Rect(0, 0, cur.Width, cur.Height)
	var rects []image.Rectangle
	cols := cur.Cols()
	for i, h := range cur.Hash {
		if old.Hash[i] != h {
			c, r := i%cols, i/cols
			tile := image.Rect(c*cur.Size, r*cur.Size, (c+1)*cur.Size, (r+1)*cur.Size)
			rects = append(rects, tile.Inset(-Pad).Intersect(bounds))
		}
	}
	if len(rects) == 0 {
		return nil, lines
	}
	kept := slices.Clone(lines)
	for grown := true; grown; {
		rects = join(rects)
		grown = false
		for i, r := range rects {
			if grow == nil {
				break
			}
			if g := grow(r).Intersect(bounds); g != r && r.In(g) {
				rects[i], grown = g, true
			}
		}
		kept = slices.DeleteFunc(kept, func(l []messages.Box) bool {
			lr := lineRect(l)
			for i, r := range rects {
				if lr.Overlaps(r) {
					rects[i] = r.Union(lr.Inset(-Pad)).Intersect(bounds)
					grown = true
					return true
				}
			}
			return false
		})
	}
	slices.SortFunc(rects, func(a, b image.Rectangle) int {
		if a.Min.Y != b.Min.Y {
			return a.Min.Y - b.Min.Y
		}
		return a.Min.X - b.Min.X
	})
	return rects, kept
}

// lineRect is the rectangle a line's boxes cover.
func lineRect(l []messages.Box) image.Rectangle {
	var r image.Rectangle
	for _, b := range l {
		r = r.Union(image.Rect(b.X, b.Y, b.X+b.W, b.Y+b.H))
	}
	return r
}

// join replaces rectangles that overlap by their union until none overlap.
func join(rects []image.Rectangle) []image.Rectangle {
	for merged := true; merged; {
		merged = false
		for i := 0; i < len(rects); i++ {
			for j := i + 1; j < len(rects); j++ {
				if rects[i].Overlaps(rects[j]) {
					rects[i] = rects[i].Union(rects[j])
					rects = slices.Delete(rects, j, j+1)
					merged = true
					j--
				}
			}
		}
	}
	return rects
}

// covered is the area of rects, which do not overlap.
func covered(rects []image.Rectangle) float64 {
	a := 0
	for _, r := range rects {
		a += r.Dx() * r.Dy()
	}
	return float64(a)
}
