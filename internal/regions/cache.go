package regions

import (
	"image"
	"slices"
	"sync"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Pad is how many unchanged pixels a band takes above and below its changed
// tiles: Tesseract needs a little blank margin around a line to find it.
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
// bands to recognise. An invalid grid, or one of another size or tiling,
// plans the whole frame.
func (c *Cache) Plan(key string, grid *messages.TileGrid) *Plan {
	p := &Plan{key: key, grid: grid}
	c.mu.Lock()
	e := c.entries[key]
	c.mu.Unlock()
	full := []image.Rectangle{image.Rect(0, 0, grid.Width, grid.Height)}
	if e == nil || !sameTiling(e.grid, grid) {
		p.Regions = full
		return p
	}
	p.Regions, p.kept = bands(e.grid, grid, e.lines)
	if len(p.Regions) == 1 && p.Regions[0].Dy() == grid.Height {
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

// span is a range of rows [y0, y1).
type span struct{ y0, y1 int }

// bands returns the full-width bands to recognise again (changed tile rows
// grown by Pad and by every cached line they touch, merged) and the cached
// lines that touch none of them.
func bands(old, cur *messages.TileGrid, lines [][]messages.Box) ([]image.Rectangle, [][]messages.Box) {
	var spans []span
	cols := cur.Cols()
	for r := 0; r < cur.Rows(); r++ {
		if !slices.Equal(old.Hash[r*cols:(r+1)*cols], cur.Hash[r*cols:(r+1)*cols]) {
			spans = append(spans, span{max(0, r*cur.Size-Pad), min(cur.Height, (r+1)*cur.Size+Pad)})
		}
	}
	if len(spans) == 0 {
		return nil, lines
	}
	kept := slices.Clone(lines)
	for changed := true; changed; {
		spans = merge(spans)
		changed = false
		kept = slices.DeleteFunc(kept, func(l []messages.Box) bool {
			y0, y1 := lineRows(l)
			for i, s := range spans {
				if y0 < s.y1 && s.y0 < y1 {
					spans[i] = span{max(0, min(s.y0, y0-Pad)), min(cur.Height, max(s.y1, y1+Pad))}
					changed = true
					return true
				}
			}
			return false
		})
	}
	out := make([]image.Rectangle, len(spans))
	for i, s := range spans {
		out[i] = image.Rect(0, s.y0, cur.Width, s.y1)
	}
	return out, kept
}

// lineRows is the rows a line's boxes cover.
func lineRows(l []messages.Box) (y0, y1 int) {
	y0, y1 = l[0].Y, l[0].Y+l[0].H
	for _, b := range l[1:] {
		y0, y1 = min(y0, b.Y), max(y1, b.Y+b.H)
	}
	return y0, y1
}

// merge sorts spans and joins those that overlap or touch.
func merge(spans []span) []span {
	slices.SortFunc(spans, func(a, b span) int { return a.y0 - b.y0 })
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s.y0 <= last.y1 {
			last.y1 = max(last.y1, s.y1)
			continue
		}
		out = append(out, s)
	}
	return out
}
