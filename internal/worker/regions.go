package worker

import (
	"bytes"
	"context"
	"image"
	"image/png"

	_ "image/jpeg" // frames arrive as PNG, JPEG

	"github.com/screenfleet/screenfleet/internal/regions"
	"github.com/screenfleet/screenfleet/pkg/messages"
	_ "github.com/screenfleet/screenfleet/pkg/rawframe" // or sfraw
)

// cropEncoder encodes crops and whole frames sent as PNG: BestSpeed, since
// the backend decodes them at once and a crop is a few kilobytes either
// way.
var cropEncoder = png.Encoder{CompressionLevel: png.BestSpeed}

// planned is one frame's share of a region-cached batch call.
type planned struct {
	plan   *regions.Plan // nil: the frame is sent whole and not cached
	images [][]byte
	crops  bool // images are regions of the frame, not the whole of it
}

// regionBackend is a backend that reads regions of screens with modes that
// suit them (inferd's ocr; kserve.ParamRegions).
type regionBackend interface {
	InferRegions(ctx context.Context, model string, images [][]byte) ([][]messages.Box, error)
}

// inferRegions sends the backend only the regions of each frame that
// changed since the frame its sandbox sent last, and merges what comes back
// with the text cached for the rest. The whole frames of the batch go in
// one call, the regions in another (as regions, where the backend reads
// them so). A frame whose sandbox sent nothing unchanged costs no backend
// call at all.
func (a boxesAdapter) inferRegions(ctx context.Context, frames []messages.Frame) ([][]messages.Box, error) {
	plans := make([]planned, len(frames))
	var wholes, crops [][]byte
	for i, f := range frames {
		var err error
		if plans[i], err = a.plan(f); err != nil {
			return nil, err
		}
		if plans[i].crops {
			crops = append(crops, plans[i].images...)
		} else {
			wholes = append(wholes, plans[i].images...)
		}
	}
	foundWholes, err := a.call(ctx, wholes, a.backend.InferBoxes)
	if err != nil {
		return nil, err
	}
	readCrops := a.backend.InferBoxes
	if rb, ok := a.backend.(regionBackend); ok {
		readCrops = rb.InferRegions
	}
	foundCrops, err := a.call(ctx, crops, readCrops)
	if err != nil {
		return nil, err
	}
	out := make([][]messages.Box, len(frames))
	for i, p := range plans {
		found := &foundWholes
		if p.crops {
			found = &foundCrops
		}
		mine := (*found)[:len(p.images)]
		*found = (*found)[len(p.images):]
		if p.plan == nil {
			out[i] = mine[0]
			continue
		}
		out[i] = a.regions.Commit(p.plan, mine)
	}
	return out, nil
}

// call makes one backend call for images, none when there are none, and
// checks that one result came back per image.
func (a boxesAdapter) call(ctx context.Context, images [][]byte,
	infer func(context.Context, string, [][]byte) ([][]messages.Box, error)) ([][]messages.Box, error) {
	if len(images) == 0 {
		return nil, nil
	}
	found, err := infer(ctx, a.model, images)
	if err != nil {
		return nil, err
	}
	if len(found) != len(images) {
		return nil, messages.Errorf(messages.CodeInferFailed,
			"backend returned %d results for %d images", len(found), len(images))
	}
	return found, nil
}

// plan decides what of f the backend must see. The tile hashes come with
// the frame when its agent sent them; otherwise the frame is decoded and
// hashed here. A PNG or JPEG frame that cannot be decoded is sent whole,
// for the backend to refuse with its own error; an sfraw one is refused
// here, with the error naming the frame.
func (a boxesAdapter) plan(f messages.Frame) (planned, error) {
	if f.Sandbox == "" {
		return wholeFrame(f, nil, nil)
	}
	key := f.Sandbox + "/" + a.model
	var img *image.RGBA
	grid := f.Tiles
	if !grid.Valid() || grid.Width != f.Width || grid.Height != f.Height {
		if img = decodeFrame(f); img == nil {
			a.regions.Forget(key)
			return wholeFrame(f, nil, nil)
		}
		grid = regions.Hash(img, 0)
	}
	undecodable := false
	p := a.regions.PlanGrow(key, grid, func(r image.Rectangle) image.Rectangle {
		if img == nil && !undecodable {
			img = decodeFrame(f)
			undecodable = img == nil
		}
		if img == nil {
			return r
		}
		return blankEdges(img, r)
	})
	if len(p.Regions) == 0 {
		return planned{plan: p}, nil
	}
	if img == nil {
		if img = decodeFrame(f); img == nil {
			a.regions.Forget(key)
			return wholeFrame(f, nil, nil)
		}
	}
	if p.Full() {
		return wholeFrame(f, p, img)
	}
	crops := make([][]byte, 0, len(p.Regions))
	for _, r := range p.Regions {
		var buf bytes.Buffer
		if err := cropEncoder.Encode(&buf, img.SubImage(r)); err != nil {
			a.regions.Forget(key)
			return wholeFrame(f, nil, nil)
		}
		crops = append(crops, buf.Bytes())
	}
	return planned{plan: p, images: crops, crops: true}, nil
}

// maxEdgeGrow bounds how far blankEdges moves a region's side: a control or
// a word ends well within it; a textured background (a photo, a gradient)
// has no blank line to stop at, and the region then stays as it was grown.
const maxEdgeGrow = 256

// blankEdges widens r until each of its sides lies on a blank margin in
// img (its two outermost lines one and the same colour), so that a crop
// never cuts through a word or a control: a button cut at its text read
// "cc" for "Continue", and the cache then kept that reading for as long as
// the button stayed still. Each side moves at most maxEdgeGrow.
func blankEdges(img *image.RGBA, r image.Rectangle) image.Rectangle {
	limit := r.Inset(-maxEdgeGrow).Intersect(img.Rect)
	col := func(x int) image.Rectangle { return image.Rect(x, r.Min.Y, x+1, r.Max.Y) }
	row := func(y int) image.Rectangle { return image.Rect(r.Min.X, y, r.Max.X, y+1) }
	for moved := true; moved && r.Dx() > 1 && r.Dy() > 1; {
		moved = false
		for r.Min.X > limit.Min.X && !blankLines(img, col(r.Min.X), col(r.Min.X+1)) {
			r.Min.X, moved = r.Min.X-1, true
		}
		for r.Max.X < limit.Max.X && !blankLines(img, col(r.Max.X-1), col(r.Max.X-2)) {
			r.Max.X, moved = r.Max.X+1, true
		}
		for r.Min.Y > limit.Min.Y && !blankLines(img, row(r.Min.Y), row(r.Min.Y+1)) {
			r.Min.Y, moved = r.Min.Y-1, true
		}
		for r.Max.Y < limit.Max.Y && !blankLines(img, row(r.Max.Y-1), row(r.Max.Y-2)) {
			r.Max.Y, moved = r.Max.Y+1, true
		}
	}
	return r
}

// blankLines reports whether every pixel of img in a and b (rows or
// columns) has one colour.
func blankLines(img *image.RGBA, a, b image.Rectangle) bool {
	first := img.Pix[img.PixOffset(a.Min.X, a.Min.Y):][:4]
	for _, r := range []image.Rectangle{a, b} {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			line := img.Pix[img.PixOffset(r.Min.X, y):][:4*r.Dx()]
			for i := 0; i < len(line); i += 4 {
				if !bytes.Equal(line[i:i+4], first) {
					return false
				}
			}
		}
	}
	return true
}

// wholeFrame plans f to be sent whole: as it came when it is PNG or JPEG,
// else encoded as PNG from its pixels (img, when already decoded). p is the
// cache's plan, nil when the result is not to be cached.
func wholeFrame(f messages.Frame, p *regions.Plan, img *image.RGBA) (planned, error) {
	if f.Codec != messages.CodecRaw {
		return planned{plan: p, images: [][]byte{f.Data}}, nil
	}
	if img == nil {
		if err := checkImageSize(f); err != nil {
			return planned{}, err
		}
		if img = decode(f.Data); img == nil {
			return planned{}, messages.Errorf(messages.CodeBadFrame, "frame %d: sfraw pixels cannot be decoded",
				f.Seq)
		}
	}
	var buf bytes.Buffer
	if err := cropEncoder.Encode(&buf, img); err != nil {
		return planned{}, messages.Errorf(messages.CodeInternal, "frame %d: encode png: %v", f.Seq, err)
	}
	return planned{plan: p, images: [][]byte{buf.Bytes()}}, nil
}

// decodeFrame decodes f's image, or returns nil; an image whose header
// disagrees with the frame's size is not decoded at all.
func decodeFrame(f messages.Frame) *image.RGBA {
	if checkImageSize(f) != nil {
		return nil
	}
	return decode(f.Data)
}

// decode reads an encoded frame into RGBA pixels, or returns nil.
func decode(data []byte) *image.RGBA {
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	return regions.ToRGBA(img)
}
