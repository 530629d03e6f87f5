package worker

import (
	"bytes"
	"context"
	"image"
	"image/png"

	_ "image/jpeg" // frames arrive as PNG or JPEG

	"github.com/screenfleet/screenfleet/internal/regions"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// cropEncoder encodes band crops: BestSpeed, since the backend decodes them
// at once and a 1280-wide band is a few kilobytes either way.
var cropEncoder = png.Encoder{CompressionLevel: png.BestSpeed}

// planned is one frame's share of a region-cached batch call.
type planned struct {
	plan   *regions.Plan // nil: the frame is sent whole and not cached
	images [][]byte
}

// inferRegions sends the backend only the bands of each frame that changed
// since the frame its sandbox sent last, in one call for the whole batch,
// and merges what comes back with the text cached for the other bands. A
// frame whose sandbox sent nothing unchanged costs no backend call at all.
func (a boxesAdapter) inferRegions(ctx context.Context, frames []messages.Frame) ([][]messages.Box, error) {
	plans := make([]planned, len(frames))
	var images [][]byte
	for i, f := range frames {
		plans[i] = a.plan(f)
		images = append(images, plans[i].images...)
	}
	var found [][]messages.Box
	if len(images) > 0 {
		var err error
		if found, err = a.backend.InferBoxes(ctx, a.model, images); err != nil {
			return nil, err
		}
		if len(found) != len(images) {
			return nil, messages.Errorf(messages.CodeInferFailed,
				"backend returned %d results for %d images", len(found), len(images))
		}
	}
	out := make([][]messages.Box, len(frames))
	for i, p := range plans {
		mine := found[:len(p.images)]
		found = found[len(p.images):]
		if p.plan == nil {
			out[i] = mine[0]
			continue
		}
		out[i] = a.regions.Commit(p.plan, mine)
	}
	return out, nil
}

// plan decides what of f the backend must see. The tile hashes come with
// the frame when its agent sent them; otherwise the frame is decoded and
// hashed here. A frame that cannot be decoded is sent whole, for the
// backend to refuse with its own error.
func (a boxesAdapter) plan(f messages.Frame) planned {
	whole := planned{images: [][]byte{f.Data}}
	if f.Sandbox == "" {
		return whole
	}
	key := f.Sandbox + "/" + a.model
	var img *image.RGBA
	grid := f.Tiles
	if !grid.Valid() || grid.Width != f.Width || grid.Height != f.Height {
		if img = decodeFrame(f); img == nil {
			a.regions.Forget(key)
			return whole
		}
		grid = regions.Hash(img, 0)
	}
	p := a.regions.Plan(key, grid)
	if p.Full() {
		return planned{plan: p, images: whole.images}
	}
	if len(p.Regions) == 0 {
		return planned{plan: p}
	}
	if img == nil {
		if img = decodeFrame(f); img == nil {
			a.regions.Forget(key)
			return whole
		}
	}
	crops := make([][]byte, 0, len(p.Regions))
	for _, r := range p.Regions {
		var buf bytes.Buffer
		if err := cropEncoder.Encode(&buf, img.SubImage(r)); err != nil {
			a.regions.Forget(key)
			return whole
		}
		crops = append(crops, buf.Bytes())
	}
	return planned{plan: p, images: crops}
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
