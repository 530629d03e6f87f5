package sfctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/spf13/cobra"

	"github.com/screenfleet/screenfleet/internal/worker"
)

// workerInfo is one registered service instance: what it is ($SRV.INFO)
// and what it has done ($SRV.STATS).
type workerInfo struct {
	micro.Info
	Stats *micro.Stats `json:"stats,omitempty"`
}

func newWorkersCmd(g *globals) *cobra.Command {
	var output, name string
	cmd := &cobra.Command{
		Use:   "workers",
		Short: "List inference workers registered as NATS services",
		Long: `workers discovers the workers through NATS service discovery (the $SRV.INFO
and $SRV.STATS requests every nats.go micro service answers, the same data
'nats micro ls' and 'nats micro stats' show): for each worker and model, the
GPU, whether the backend is ready, the frames answered and not, the batches
and their mean size, and the p50 and p95 time of a frame in the worker.`,
		Example: `  sfctl workers
  sfctl workers --name sf-worker -o json`,
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list := func(ctx context.Context, c *conn) ([]workerInfo, error) { return listWorkers(ctx, c, name) }
			return runListing(cmd.Context(), g, output, list, func(ws []workerInfo) { printWorkers(g.out, ws) })
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "only services of this name (default: every registered service)")
	outputFlag(cmd, &output)
	return cmd
}

// errNoWorkers means no service answered discovery.
var errNoWorkers = errors.New("no workers registered as NATS services: is a worker running? " +
	"('sfctl dev' starts one; 'nats micro ls' shows the same registry)")

// listWorkers discovers services named name (every service when empty),
// ordered by name and id.
func listWorkers(ctx context.Context, c *conn, name string) ([]workerInfo, error) {
	infoSubj, err := micro.ControlSubject(micro.InfoVerb, name, "")
	if err != nil {
		return nil, fmt.Errorf("--name %q: %w", name, err)
	}
	infos, err := gather(ctx, c.nc, infoSubj)
	if errors.Is(err, errNoAnswer) && name != "" {
		return nil, fmt.Errorf("no service named %q registered ('sfctl workers' without --name lists every one)", name)
	}
	if errors.Is(err, errNoAnswer) {
		return nil, errNoWorkers
	}
	if err != nil {
		return nil, err
	}
	ws, err := decodeInfos(infos)
	if err != nil {
		return nil, err
	}
	statsSubj, _ := micro.ControlSubject(micro.StatsVerb, name, "")
	stats, err := gather(ctx, c.nc, statsSubj)
	if err != nil && !errors.Is(err, errNoAnswer) {
		return nil, err
	}
	return ws, attachStats(ws, stats)
}

func decodeInfos(raw [][]byte) ([]workerInfo, error) {
	ws := make([]workerInfo, 0, len(raw))
	for _, b := range raw {
		var w workerInfo
		if err := json.Unmarshal(b, &w.Info); err != nil {
			return nil, fmt.Errorf("service info: %w", err)
		}
		ws = append(ws, w)
	}
	slices.SortFunc(ws, func(a, b workerInfo) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return ws, nil
}

func attachStats(ws []workerInfo, raw [][]byte) error {
	for _, b := range raw {
		var s micro.Stats
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("service stats: %w", err)
		}
		for i := range ws {
			if ws[i].ID == s.ID {
				ws[i].Stats = &s
			}
		}
	}
	return nil
}

func printWorkers(w io.Writer, ws []workerInfo) {
	tw := newTable(w)
	fmt.Fprintln(tw, "WORKER\tGPU\tMODEL\tREADY\tFRAMES\tNOT OK\tBATCHES\tMEAN BATCH\tP50\tP95")
	for _, wk := range ws {
		for _, m := range modelRows(wk) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%.1f\t%s\t%s\n", workerName(wk),
				orDash(wk.Metadata["gpu"]), m.Model, readyText(m), m.Frames["ok"], notOK(m.Frames),
				m.Batches, m.MeanBatch, millis(m.P50Ms), millis(m.P95Ms))
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d worker%s registered\n", len(ws), plural(len(ws)))
}

// workerName is the worker's own name (its metadata), else its service id.
func workerName(w workerInfo) string {
	if n := w.Metadata["worker"]; n != "" {
		return n
	}
	return w.ID
}

// modelRows returns what each of the worker's model endpoints reports in
// its stats (a worker.ModelStatus); an endpoint without stats gives a row
// with its name only.
func modelRows(w workerInfo) []worker.ModelStatus {
	var rows []worker.ModelStatus
	for _, e := range w.Endpoints {
		m := worker.ModelStatus{Model: e.Metadata["model"]}
		if m.Model == "" {
			m.Model = e.Name
		}
		if st := endpointStats(w.Stats, e.Name); st != nil && len(st.Data) > 0 {
			_ = json.Unmarshal(st.Data, &m) // a service of another shape shows zeros
		}
		rows = append(rows, m)
	}
	return rows
}

func endpointStats(s *micro.Stats, name string) *micro.EndpointStats {
	if s == nil {
		return nil
	}
	for _, e := range s.Endpoints {
		if e != nil && e.Name == name {
			return e
		}
	}
	return nil
}

func readyText(m worker.ModelStatus) string {
	if m.Ready {
		return "yes"
	}
	return "no"
}

// notOK counts the frames that got no detections (errors, refusals).
func notOK(frames map[string]int64) int64 {
	var n int64
	for outcome, c := range frames {
		if outcome != "ok" {
			n += c
		}
	}
	return n
}

func millis(ms float64) string {
	if ms == 0 {
		return "-"
	}
	return roundDur(time.Duration(ms * float64(time.Millisecond)))
}

// models names what a service serves: its endpoints' model metadata, else
// the endpoint names.
func models(info micro.Info) []string {
	var out []string
	for _, e := range info.Endpoints {
		m := e.Metadata["model"]
		if m == "" {
			m = e.Name
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}
