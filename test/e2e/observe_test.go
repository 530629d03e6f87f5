package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// observeSecret is the password the observed task types: it must appear in
// no log line.
const observeSecret = "Tr0ub4dor&3-e2e-observe"

// TestFleetIsObservable runs one sign-in task and, while it runs, reads the
// fleet the way a person would: sfctl sandboxes, workers, the daemons' and
// the agent's /metrics. Afterwards the stage histograms have moved, sfctl
// shows the task with its stage times, and no log holds the typed password
// or frame bytes.
func TestFleetIsObservable(t *testing.T) {
	t.Parallel()
	daemons := metricsURLs(t)
	before := map[string]map[string]float64{}
	for name, url := range daemons {
		before[name] = scrape(t, url)
	}
	id := "e2e-observe"
	submitJSON(t, []byte(observeTask(id)), id)
	sb := waitSandbox(t, id)
	logs := watchAgent(t, sb, id, daemons["dispatcher"])
	st := waitFinal(t, id, taskLimit)
	requireSucceeded(t, st)

	for name, url := range daemons {
		checkMoved(t, name, before[name], scrape(t, url))
	}
	if logs.running < 1 {
		t.Errorf("while the task ran, the dispatcher's running sandboxes gauge read %v", logs.running)
	}
	if logs.scrapes == 0 || logs.captures == 0 {
		t.Errorf("the agent's /metrics never showed a capture (%d scrapes, %v)", logs.scrapes, logs.err)
	}
	checkSfctlAfter(t, id)
	checkLogs(t, logs.text)
}

func observeTask(id string) string {
	return `{"id":"` + id + `","app":{"command":["firefox-esr","--kiosk","` + shared.site.URL + `/login.html"]},
	  "steps":[
	    {"action":"wait_for","target":{"text":"Sign in"},"timeout":"60s"},
	    {"action":"click","target":{"right_of":"User name"}},
	    {"action":"type","text":"alice"},
	    {"action":"click","target":{"right_of":"Password"}},
	    {"action":"type","text":"` + observeSecret + `"},
	    {"action":"click","target":{"text":"Sign in"}},
	    {"action":"assert","target":{"text":"Welcome, alice"},"timeout":"20s"}]}`
}

var devMetrics = regexp.MustCompile(`^(\w+)\s.*metrics (http://\S+/metrics)`)

// metricsURLs reads each daemon's metrics address from what sfctl dev printed.
func metricsURLs(t *testing.T) map[string]string {
	t.Helper()
	urls := map[string]string{}
	for _, l := range shared.devOut {
		if m := devMetrics.FindStringSubmatch(l); m != nil {
			urls[m[1]] = m[2]
		}
	}
	for _, want := range []string{"dispatcher", "worker", "inferd"} {
		if urls[want] == "" {
			t.Fatalf("sfctl dev did not print the %s's metrics address:\n%s", want,
				strings.Join(shared.devOut, "\n"))
		}
	}
	return urls
}

// scrape reads the samples of a /metrics page, keyed by series.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	samples, err := scrapeErr(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return samples
}

func scrapeErr(url string) (map[string]float64, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			samples[line[:i]] = v
		}
	}
	return samples, sc.Err()
}

// stageSeries are the histograms that must move during a task, per daemon:
// each stage of a step in the dispatcher (from the agents' reports), the
// worker's queue wait and backend call, inferd's inference.
func stageSeries(daemon string) []string {
	switch daemon {
	case "dispatcher":
		var out []string
		for _, s := range messages.StepStages() {
			out = append(out, `sf_step_stage_seconds_count{stage="`+s+`"}`)
		}
		return append(out, `sf_step_seconds_count{action="type",outcome="ok"}`,
			`sf_tasks_finished_total{reason="ok",state="succeeded"}`)
	case "worker":
		return []string{`sf_worker_queue_seconds_count{gpu="cpu",model="ocr"}`,
			`sf_worker_infer_seconds_count{gpu="cpu",model="ocr"}`}
	case "inferd":
		return []string{`sf_inferd_infer_seconds_count{model="ocr"}`}
	}
	return nil
}

func checkMoved(t *testing.T, daemon string, before, after map[string]float64) {
	t.Helper()
	for _, series := range stageSeries(daemon) {
		if after[series] <= before[series] {
			t.Errorf("%s: %s did not move during the task (%v → %v)", daemon, series, before[series], after[series])
		}
	}
	for series := range after {
		if strings.Contains(series, "e2e-") || strings.Contains(series, `"sb-`) {
			t.Errorf("%s: a series is labelled with a task or sandbox id: %s", daemon, series)
		}
	}
}

// waitSandbox waits until the task runs and returns its sandbox.
func waitSandbox(t *testing.T, id string) string {
	t.Helper()
	deadline := time.Now().Add(taskLimit)
	for time.Now().Before(deadline) {
		out, _ := sfctl("status", id, "-o", "json")
		var st messages.TaskStatus
		if json.Unmarshal(out, &st) == nil && st.Sandbox != "" {
			return st.Sandbox
		}
		time.Sleep(200 * time.Millisecond) // polling interval, not synchronisation
	}
	t.Fatalf("task %s never got a sandbox", id)
	return ""
}

func sfctl(args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(shared.bin, "sfctl"), append(args, "--nats-url", shared.natsURL)...)
	return cmd.CombinedOutput()
}
