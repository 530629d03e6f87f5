package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/screenfleet/screenfleet/internal/inferd"
	"github.com/screenfleet/screenfleet/internal/kserve"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// sendFunc sends one frame and waits for its answer.
type sendFunc func(ctx context.Context, agent int, seq uint64, frame []byte) error

// result is what one load run measured.
type result struct {
	done, failed int
	elapsed      time.Duration
	latencies    []time.Duration
}

// merge adds o's counts and latencies to r's.
func (r result) merge(o result) result {
	r.done += o.done
	r.failed += o.failed
	r.elapsed += o.elapsed
	r.latencies = append(r.latencies, o.latencies...)
	slices.Sort(r.latencies)
	return r
}

func (r result) throughput() float64 { return float64(r.done) / r.elapsed.Seconds() }

func (r result) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(q*float64(len(r.latencies))))]
}

// load runs agents closed-loop. Measuring starts once warmup has passed
// and every agent has had a reply (the queues are full), and lasts
// measure; a frame counts in the window its reply arrives in. Requests
// still out at the end are cancelled.
func load(ctx context.Context, agents int, warmup, measure time.Duration, frames [][]byte,
	send sendFunc) result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := newWindow(agents, warmup, measure)
	var wg sync.WaitGroup
	for a := range agents {
		wg.Go(func() {
			first := true
			for seq := uint64(0); ctx.Err() == nil && !w.over(); seq++ {
				sent := time.Now()
				err := send(ctx, a, seq, frames[(a+int(seq))%len(frames)])
				if ctx.Err() != nil {
					return
				}
				w.add(time.Since(sent), err, first)
				first = false
			}
		})
	}
	<-w.closed
	cancel()
	wg.Wait()
	return w.result()
}

// window collects the replies that arrive while it is open.
type window struct {
	mu       sync.Mutex
	waiting  int // agents without a reply yet
	earliest time.Time
	from     time.Time // zero until open
	measure  time.Duration
	closed   chan struct{}
	timer    *time.Timer
	r        result
}

func newWindow(agents int, warmup, measure time.Duration) *window {
	return &window{waiting: agents, earliest: time.Now().Add(warmup), measure: measure, closed: make(chan struct{})}
}

func (w *window) add(took time.Duration, err error, first bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if first {
		w.waiting--
	}
	now := time.Now()
	if w.from.IsZero() {
		if w.waiting == 0 && !now.Before(w.earliest) {
			w.from = now
			w.timer = time.AfterFunc(w.measure, func() { close(w.closed) })
		}
		return
	}
	if now.After(w.from.Add(w.measure)) {
		return
	}
	if err != nil {
		w.r.failed++
		return
	}
	w.r.done++
	w.r.latencies = append(w.r.latencies, took)
}

func (w *window) over() bool {
	select {
	case <-w.closed:
		return true
	default:
		return false
	}
}

func (w *window) result() result {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.r
	r.elapsed = w.measure
	r.latencies = slices.Clone(r.latencies)
	slices.Sort(r.latencies)
	return r
}

// natsSender sends frames as agents do: a msgpack Frame request on the
// model's subject, one connection per agent.
func natsSender(url string, agents int) (sendFunc, func(), error) {
	conns := make([]*nats.Conn, agents)
	closeAll := func() {
		for _, nc := range conns {
			if nc != nil {
				nc.Close()
			}
		}
	}
	for i := range conns {
		nc, err := nats.Connect(url)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		conns[i] = nc
	}
	subjects := messages.NewSubjects("")
	send := func(ctx context.Context, agent int, seq uint64, img []byte) error {
		sandbox := fmt.Sprintf("sb%d", agent)
		data, err := messages.Encode(messages.Frame{V: messages.Version, Sandbox: sandbox, Seq: seq,
			Codec: messages.CodecPNG, Width: 1280, Height: 800, Data: img})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		msg, err := conns[agent].RequestWithContext(ctx, subjects.Infer(inferd.DelayModelName, sandbox), data)
		if err != nil {
			return err
		}
		var d messages.Detections
		if err := messages.Decode(msg.Data, &d); err != nil {
			return err
		}
		if d.Seq != seq || len(d.Boxes) != 1 {
			return fmt.Errorf("reply for frame %d is %+v", seq, d)
		}
		return d.Err()
	}
	return send, closeAll, nil
}

// directSender calls the backend straight over gRPC, one frame per call.
func directSender(c *kserve.Client) sendFunc {
	return func(ctx context.Context, _ int, _ uint64, img []byte) error {
		_, err := c.InferBoxes(ctx, inferd.DelayModelName, [][]byte{img})
		return err
	}
}

// loadFrames reads the PNG frames of dir, or makes n synthetic ones of
// about kb KB each.
func loadFrames(dir string, kb, n int) ([][]byte, error) {
	if dir == "" {
		return syntheticFrames(kb, n)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil || len(paths) == 0 {
		return nil, fmt.Errorf("no PNG frames in %s", dir)
	}
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// syntheticFrames makes n different 1280x800 PNGs of about kb KB: a white
// screen with a block of noise, which PNG cannot compress, sized to the
// target.
func syntheticFrames(kb, n int) ([][]byte, error) {
	side := 16
	for {
		b, err := noisePNG(side, 0)
		if err != nil {
			return nil, err
		}
		if len(b) >= kb*1000 || side >= 800 {
			break
		}
		side += 8
	}
	out := make([][]byte, n)
	for i := range out {
		b, err := noisePNG(side, uint64(i))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func noisePNG(side int, seed uint64) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, 1280, 800))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for y := range side {
		for x := range side {
			o := y*img.Stride + x*4
			img.Pix[o], img.Pix[o+1], img.Pix[o+2] = uint8(rng.Uint32()), uint8(rng.Uint32()), uint8(rng.Uint32())
		}
	}
	var buf bytes.Buffer
	err := png.Encode(&buf, img)
	return buf.Bytes(), err
}
