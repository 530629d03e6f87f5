package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/screenfleet/screenfleet/internal/inferd"
)

// row is one line of the table.
type row struct {
	name    string
	workers int
	batch   string
	agents  int
	r       result
	mean    float64
}

func bench(ctx context.Context, o options) error {
	url, stopNATS, err := startNATS(o.natsURL)
	if err != nil {
		return err
	}
	defer stopNATS()
	frames, err := loadFrames(o.frames, o.frameKB, 8)
	if err != nil {
		return err
	}
	fmt.Printf("frames: %d of %d KB; delay backend %s + %s*sqrt(batch) per batch; %d agents, %s per row\n",
		len(frames), len(frames[0])/1000, o.base, o.perItem, o.agents, o.duration)
	fmt.Printf("host: %d CPUs, load average at start %s\n\n", runtime.NumCPU(), loadAverage())

	rows, err := scalingRows(ctx, o, url, frames)
	if err != nil {
		return err
	}
	lat, err := latencyRows(ctx, o, url, frames)
	if err != nil {
		return err
	}
	printTable(rows, lat)
	fmt.Printf("\nload average at end %s\n", loadAverage())
	return nil
}

// loadAverage is the host's 1/5/15-minute load, which says whether other
// work shared the CPUs with the benchmark.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// scalingRows measures 1/2/4 workers, batch 1 and dynamic batching.
func scalingRows(ctx context.Context, o options, url string, frames [][]byte) ([]row, error) {
	delay := inferd.DelayConfig{Base: o.base, PerItem: o.perItem}
	var rows []row
	for _, dyn := range []bool{false, true} {
		for _, n := range o.workers {
			batch, label := 1, "1"
			if dyn {
				batch, label = o.maxBatch, fmt.Sprintf("dynamic<=%d/%s", o.maxBatch, o.maxWait)
			}
			r, mean, err := runTier(ctx, o.verbose, url, n, delay, batch, o.maxWait, o.agents, o.warmup, o.duration, frames)
			if err != nil {
				return nil, err
			}
			rows = append(rows, row{name: "nats", workers: n, batch: label, agents: o.agents, r: r, mean: mean})
			fmt.Fprintf(os.Stderr, "measured %d workers, batch %s: %.0f frames/s\n", n, label, r.throughput())
		}
	}
	return rows, nil
}

func runTier(ctx context.Context, verbose bool, url string, n int, delay inferd.DelayConfig, batch int,
	wait time.Duration, agents int, warmup, measure time.Duration, frames [][]byte) (result, float64, error) {
	t, err := startTier(ctx, url, n, delay, batch, wait)
	if err != nil {
		return result{}, 0, err
	}
	defer t.stop()
	send, closeConns, err := natsSender(url, agents)
	if err != nil {
		return result{}, 0, err
	}
	defer closeConns()
	r := load(ctx, agents, warmup, measure, frames, send)
	for _, w := range t.workers {
		if !verbose {
			break
		}
		s := w.Status(inferd.DelayModelName)
		fmt.Fprintf(os.Stderr, "  worker: frames %v batches %d mean %.2f in-worker p50 %.1f ms p95 %.1f ms\n",
			s.Frames, s.Batches, s.MeanBatch, s.P50Ms, s.P95Ms)
	}
	return r, t.meanBatch(), nil
}

// latencyRounds is how many times the latency rows alternate between the
// direct and the NATS path, so that other work on the host weighs on both
// alike.
const latencyRounds = 6

// latencyRows measures one agent through NATS and one worker, alternating
// with the same frames sent straight to that worker's backend, for the NATS
// path's cost: once with batching off and once on. Each NATS row comes with
// the direct row measured alongside it.
func latencyRows(ctx context.Context, o options, url string, frames [][]byte) ([]row, error) {
	delay := inferd.DelayConfig{Base: o.latBase}
	var rows []row
	for _, c := range []struct {
		batch int
		wait  time.Duration
		label string
	}{{1, -1, "1"}, {o.maxBatch, o.maxWait, fmt.Sprintf("dynamic<=%d/%s", o.maxBatch, o.maxWait)}} {
		t, err := startTier(ctx, url, 1, delay, c.batch, c.wait)
		if err != nil {
			return nil, err
		}
		direct, viaNATS, err := alternate(ctx, o, url, t, frames)
		mean := t.meanBatch()
		t.stop()
		if err != nil {
			return nil, err
		}
		rows = append(rows, row{name: "direct gRPC", batch: "-", agents: 1, r: direct, mean: 1},
			row{name: "nats", workers: 1, batch: c.label, agents: 1, r: viaNATS, mean: mean})
	}
	return rows, nil
}

// alternate runs the direct and the NATS path in turns on tier t.
func alternate(ctx context.Context, o options, url string, t *tier, frames [][]byte) (result, result, error) {
	send, closeConns, err := natsSender(url, 1)
	if err != nil {
		return result{}, result{}, err
	}
	defer closeConns()
	direct := directSender(t.gpus[0].client)
	per := o.directRun / latencyRounds
	var d, n result
	for range latencyRounds {
		d = d.merge(load(ctx, 1, per/4, per, frames, direct))
		n = n.merge(load(ctx, 1, per/4, per, frames, send))
	}
	return d, n, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

func printTable(rows, lat []row) {
	tw := tabwriter.NewWriter(os.Stdout, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tworkers\tbatch\tagents\tframes/s\tvs 1 worker\tp50 ms\tp95 ms\tp99 ms\tmean batch\tfailed\t")
	base := map[string]float64{}
	for _, r := range rows {
		if r.workers == 1 {
			base[r.batch] = r.r.throughput()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%.1f\t%.2fx\t%s\t%s\t%s\t%.2f\t%d\t\n", r.name, r.workers, r.batch, r.agents,
			r.r.throughput(), r.r.throughput()/base[r.batch], ms(r.r.quantile(0.5)), ms(r.r.quantile(0.95)),
			ms(r.r.quantile(0.99)), r.mean, r.r.failed)
	}
	_ = tw.Flush()
	fmt.Println()
	if len(rows) >= 2 {
		one, dyn := rows[0], rows[len(rows)/2]
		fmt.Printf("dynamic batching vs batch 1, 1 worker: %.2fx throughput, p95 %s ms vs %s ms\n\n",
			dyn.r.throughput()/one.r.throughput(), ms(dyn.r.quantile(0.95)), ms(one.r.quantile(0.95)))
	}
	tw = tabwriter.NewWriter(os.Stdout, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "latency (1 agent)\tbatch\tframes/s\tp50 ms\tp95 ms\tp50 vs direct\tp50 added ms\t")
	var d50 time.Duration
	for _, r := range lat {
		p50 := r.r.quantile(0.5)
		if r.workers == 0 {
			d50 = p50 // the direct row measured alongside the next one
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\t%s\t%.3f\t%s\t\n", r.name, r.batch, r.r.throughput(), ms(p50),
			ms(r.r.quantile(0.95)), float64(p50)/float64(d50), ms(p50-d50))
	}
	_ = tw.Flush()
}
