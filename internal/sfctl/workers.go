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
'nats micro ls' and 'nats micro stats' show): each worker's GPU and models,
the requests it served, its errors and its average handling time.`,
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
var errNoWorkers = errors.New("no workers registered as NATS services: is a worker running? ('sfctl dev' starts one; 'nats micro ls' shows the same registry)")

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
	fmt.Fprintln(tw, "WORKER\tID\tVERSION\tGPU\tMODELS\tREQUESTS\tERRORS\tAVG TIME")
	for _, wk := range ws {
		req, errs, avg := totals(wk.Stats)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", wk.Name, wk.ID, wk.Version,
			orDash(wk.Metadata["gpu"]), orDash(strings.Join(models(wk.Info), ",")), req, errs, avg)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d worker%s registered\n", len(ws), plural(len(ws)))
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

// totals sums a service's endpoint statistics.
func totals(s *micro.Stats) (requests, errs int, avg string) {
	if s == nil {
		return 0, 0, "-"
	}
	var took time.Duration
	for _, e := range s.Endpoints {
		requests += e.NumRequests
		errs += e.NumErrors
		took += e.ProcessingTime
	}
	if requests == 0 {
		return 0, errs, "-"
	}
	return requests, errs, roundDur(took / time.Duration(requests))
}
