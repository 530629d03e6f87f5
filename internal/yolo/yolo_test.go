package yolo

import (
	"errors"
	"image"
	"image/color"
	"math"
	"testing"
)

// rawTensor builds a [1, 4+nc, anchors] (channelMajor) or [1, anchors, 4+nc]
// output with every score 0 except the given anchors.
type anchor struct {
	idx          int
	cx, cy, w, h float32
	class        int
	score        float32
}

func rawTensor(nc, anchors int, channelMajor bool, as ...anchor) ([]float32, []int64) {
	data := make([]float32, (4+nc)*anchors)
	set := func(c, a int, v float32) {
		if channelMajor {
			data[c*anchors+a] = v
		} else {
			data[a*(4+nc)+c] = v
		}
	}
	for _, a := range as {
		for c, v := range []float32{a.cx, a.cy, a.w, a.h} {
			set(c, a.idx, v)
		}
		set(4+a.class, a.idx, a.score)
	}
	if channelMajor {
		return data, []int64{1, int64(4 + nc), int64(anchors)}
	}
	return data, []int64{1, int64(anchors), int64(4 + nc)}
}

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-3 }

func sameBox(got Box, x1, y1, x2, y2 float32) bool {
	return near(got.X1, x1) && near(got.Y1, y1) && near(got.X2, x2) && near(got.Y2, y2)
}

// Frame sizes that do not divide evenly into 640: the box drawn at known
// frame pixels, written into the tensor at the input pixels worked out by
// hand, comes back on exactly those frame pixels.
func TestDecodeLandsOnFramePixels(t *testing.T) {
	cases := []struct {
		name           string
		w, h           int
		padX, padY     int
		in             anchor  // input pixels, hand-computed
		x1, y1, x2, y2 float32 // frame pixels
	}{
		// 1024x600: scale 0.625, resized 640x375, 265 rows of padding: 132
		// above, 133 below. Frame (100,200)-(300,260) is input
		// (62.5,257)-(187.5,294.5).
		{"1024x600", 1024, 600, 0, 132, anchor{cx: 125, cy: 275.75, w: 125, h: 37.5}, 100, 200, 300, 260},
		// 1366x768: resized to 640x360 (x scale 640/1366, y scale 0.46875),
		// 140 rows above. Input (0,170)-(320,200) is frame (0,64)-(683,128).
		{"1366x768", 1366, 768, 0, 140, anchor{cx: 160, cy: 185, w: 320, h: 30}, 0, 64, 683, 128},
		// 800x1280 (portrait): scale 0.5, resized 400x640, 120 columns left.
		{"800x1280", 800, 1280, 120, 0, anchor{cx: 170, cy: 100, w: 100, h: 50}, 0, 150, 200, 250},
	}
	for _, tc := range cases {
		for _, nc := range []int{80, 1} {
			for _, cm := range []bool{true, false} {
				tr := NewTransform(tc.w, tc.h, 640, 640)
				if tr.PadX != tc.padX || tr.PadY != tc.padY {
					t.Fatalf("%s: padding %d,%d, want %d,%d", tc.name, tr.PadX, tr.PadY, tc.padX, tc.padY)
				}
				a := tc.in
				a.idx, a.class, a.score = 3, nc-1, 0.9
				data, shape := rawTensor(nc, 8, cm, a)
				got, err := DecodeRaw(data, shape, nc, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || len(got[0]) != 1 {
					t.Fatalf("%s nc=%d channel-major=%v: %v, want one box", tc.name, nc, cm, got)
				}
				b := tr.ToFrame(got[0][0])
				if !sameBox(b, tc.x1, tc.y1, tc.x2, tc.y2) || b.Class != nc-1 || b.Score != 0.9 {
					t.Errorf("%s nc=%d channel-major=%v: %+v, want (%v,%v)-(%v,%v) class %d",
						tc.name, nc, cm, b, tc.x1, tc.y1, tc.x2, tc.y2, nc-1)
				}
			}
		}
	}
}

// A tensor whose shape does not fit the class list is refused, never
// decoded into garbage (C12: a 1-class model read as 80 classes).
func TestLayoutMismatchRejected(t *testing.T) {
	cases := []struct {
		shape []int64
		nc    int
	}{
		{[]int64{1, 5, 8400}, 80},
		{[]int64{1, 84, 8400}, 1},
		{[]int64{1, 5, 5}, 1}, // ambiguous
		{[]int64{84}, 80},
		{[]int64{1, 2, 84, 8400}, 80},
	}
	for _, tc := range cases {
		if _, err := LayoutOf(tc.shape, tc.nc); !errors.Is(err, ErrLayout) {
			t.Errorf("shape %v nc %d: error %v, want ErrLayout", tc.shape, tc.nc, err)
		}
	}
	if _, err := DecodeRaw(make([]float32, 10), []int64{1, 84, 8400}, 80, Options{}); !errors.Is(err,
		ErrLayout) {
		t.Errorf("short data: %v, want ErrLayout", err)
	}
	l, err := LayoutOf([]int64{2, 8400, 84}, 80)
	if err != nil || l.ChannelMajor || l.Anchors != 8400 || l.Batch != 2 {
		t.Errorf("transposed layout %+v %v", l, err)
	}
}

// Two boxes overlapping by IoU 0.9 with different classes give one box in
// the default class-agnostic mode and two per class.
func TestNMSAgnosticByDefault(t *testing.T) {
	a := anchor{idx: 0, cx: 150, cy: 150, w: 100, h: 100, class: 0, score: 0.9}
	b := anchor{idx: 5, cx: 150, cy: 145, w: 100, h: 90, class: 1, score: 0.8}
	if iou := IoU(Box{100, 100, 200, 200, 0, 0}, Box{100, 100, 200, 190, 0, 0}); !near(iou, 0.9) {
		t.Fatalf("IoU = %v, want 0.9", iou)
	}
	data, shape := rawTensor(80, 10, true, a, b)
	got, err := DecodeRaw(data, shape, 80, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got[0]) != 1 || got[0][0].Class != 0 {
		t.Fatalf("agnostic: %+v, want the class-0 box alone", got[0])
	}
	got, err = DecodeRaw(data, shape, 80, Options{PerClass: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got[0]) != 2 {
		t.Fatalf("per class: %+v, want both boxes", got[0])
	}
}

// Scores below the threshold are dropped, the max detections cap holds, and
// batches decode image by image.
func TestDecodeThresholdAndBatch(t *testing.T) {
	one, shape := rawTensor(2, 4, true,
		anchor{idx: 0, cx: 10, cy: 10, w: 4, h: 4, class: 1, score: 0.2},
		anchor{idx: 1, cx: 50, cy: 50, w: 4, h: 4, class: 0, score: 0.6})
	two, _ := rawTensor(2, 4, true)
	shape[0] = 2
	got, err := DecodeRaw(append(one, two...), shape, 2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0]) != 1 || !sameBox(got[0][0], 48, 48, 52, 52) || len(got[1]) != 0 {
		t.Fatalf("batch decode %+v", got)
	}
}

func TestDecodeEfficientNMS(t *testing.T) {
	o := NMSOutput{
		NumDets: []int32{2, 0},
		K:       3,
		Boxes:   []float32{62.5, 257, 187.5, 294.5, 1, 2, 3, 4, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		Scores:  []float32{0.9, 0.5, 0.1, 0, 0, 0},
		Classes: []int32{2, 0, 7, 0, 0, 0},
	}
	got, err := DecodeNMS(o, 3)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTransform(1024, 600, 640, 640)
	if len(got) != 2 || len(got[0]) != 2 || len(got[1]) != 0 || got[0][0].Class != 2 ||
		!sameBox(tr.ToFrame(got[0][0]), 100, 200, 300, 260) {
		t.Fatalf("decoded %+v", got)
	}
	o.NumDets[0] = 3 // the third row has class 7: not in 3 labels
	if _, err := DecodeNMS(o, 3); !errors.Is(err, ErrLayout) {
		t.Fatalf("class out of range: %v", err)
	}
	o.NumDets[0] = 4
	if _, err := DecodeNMS(o, 8); !errors.Is(err, ErrLayout) {
		t.Fatalf("num_dets over k: %v", err)
	}
}

// Fill puts the resized frame between the padding rows worked out by hand.
func TestFillLetterbox(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 1024, 600))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+3] = 255, 255 // red
	}
	tr := NewTransform(1024, 600, 640, 640)
	dst := make([]float32, 3*640*640)
	pad := float32(PadValue) / 255
	for _, area := range []bool{false, true} {
		tr.Fill(dst, img, area)
		checkFill(t, dst, pad)
	}
}

func checkFill(t *testing.T, dst []float32, pad float32) {
	t.Helper()
	r := func(x, y int) float32 { return dst[y*640+x] }
	g := func(x, y int) float32 { return dst[640*640+y*640+x] }
	if r(0, 131) != pad || r(0, 132) != 1 || g(0, 132) != 0 || r(639, 506) != 1 || r(0, 507) != pad {
		t.Fatalf("rows 131/132/506/507: %v %v %v %v", r(0, 131), r(0, 132), r(639, 506), r(0, 507))
	}
	back := Image(dst, 640, 640)
	if c := back.RGBAAt(5, 200); c != (color.RGBA{255, 0, 0, 255}) {
		t.Fatalf("round trip pixel %v", c)
	}
}

func TestFloatCodecs(t *testing.T) {
	vs := []float32{0, 1.5, -2, 3.25e-3}
	got, err := Float32s(AppendFloat32s(nil, vs))
	if err != nil || len(got) != 4 || got[1] != 1.5 || got[3] != vs[3] {
		t.Fatalf("float32 round trip %v %v", got, err)
	}
	// 1.0, -2.0, 65504 (max half), smallest subnormal.
	half, err := Float16s([]byte{0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00})
	if err != nil || half[0] != 1 || half[1] != -2 || half[2] != 65504 || !near(half[3]*1e7, 0.5960464) {
		t.Fatalf("float16 %v %v", half, err)
	}
	if _, err := Float32s([]byte{1, 2, 3}); !errors.Is(err, ErrLayout) {
		t.Fatalf("odd bytes: %v", err)
	}
}

// Averaging keeps a 1 px line wherever it falls when a 1366x768 frame
// shrinks to 0.47; it weighs in by the share of the output pixel it covers.
func TestFillAreaKeepsThinLines(t *testing.T) {
	tr := NewTransform(1366, 768, 640, 640)
	dst := make([]float32, 3*640*640)
	for y0 := 300; y0 < 310; y0++ {
		img := image.NewRGBA(image.Rect(0, 0, 1366, 768))
		for i := range img.Pix {
			img.Pix[i] = 255
		}
		for x := range 1366 {
			img.SetRGBA(x, y0, color.RGBA{0, 0, 0, 255})
		}
		tr.Fill(dst, img, true)
		darkest := float32(1)
		for y := tr.PadY; y < tr.PadY+tr.NewH; y++ {
			darkest = min(darkest, dst[y*640+10])
		}
		if darkest > 0.8 {
			t.Errorf("line at row %d: darkest output %v, want the line to show", y0, darkest)
		}
	}
}
