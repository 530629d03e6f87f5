package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// agentWatch is what was seen of a sandbox's agent while its task ran.
type agentWatch struct {
	text     string // the agent's log, as last read
	scrapes  int    // successful scrapes of its /metrics
	captures float64
	err      error
	// running is the dispatcher's gauge of running sandboxes, read while
	// sfctl listed this one.
	running float64
}

// watchAgent follows the sandbox's agent until the task is final: it reads
// the agent's log (removed with the sandbox, so it is kept as last read),
// finds the agent's metrics address there, scrapes it, and lists the
// sandboxes and workers with sfctl while the task runs.
func watchAgent(t *testing.T, sandbox, id, dispatcherURL string) agentWatch {
	t.Helper()
	logPath := filepath.Join(os.TempDir(), "screenfleet-sandboxes", sandbox, "agentd.log")
	var w agentWatch
	listed := false
	for deadline := time.Now().Add(taskLimit); time.Now().Before(deadline); {
		if b, err := os.ReadFile(logPath); err == nil && len(b) >= len(w.text) {
			w.text = string(b)
		}
		if addr := agentHTTP(w.text); addr != "" {
			w.scrape(addr)
		}
		if !listed {
			listed = checkSfctlDuring(t, sandbox, id)
			if listed {
				w.running = scrape(t, dispatcherURL)[`sf_dispatcher_sandboxes{runtime="process",state="running"}`]
			}
		}
		if out, _ := sfctl("status", id); strings.Contains(string(out),
			"SUCCEEDED") || strings.Contains(string(out), "FAILED") {
			break
		}
		time.Sleep(300 * time.Millisecond) // polling interval, not synchronisation
	}
	if !listed {
		t.Errorf("sfctl sandboxes never listed sandbox %s running task %s", sandbox, id)
	}
	return w
}

func (w *agentWatch) scrape(addr string) {
	samples, err := scrapeErr("http://" + addr + "/metrics")
	if err != nil {
		w.err = err
		return
	}
	w.scrapes++
	w.captures = max(w.captures, samples[`sf_agent_stage_seconds_count{stage="capture"}`])
}

// agentHTTP finds the metrics address in the agent's agent_ready log line.
func agentHTTP(log string) string {
	for _, line := range strings.Split(log, "\n") {
		var ev struct {
			Event string `json:"event"`
			HTTP  string `json:"http"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "agent_ready" {
			return ev.HTTP
		}
	}
	return ""
}

// checkSfctlDuring reports whether sfctl sandboxes lists the running
// sandbox; it also checks that sfctl workers answers sensibly.
func checkSfctlDuring(t *testing.T, sandbox, id string) bool {
	t.Helper()
	out, err := sfctl("workers")
	if err != nil || !regexp.MustCompile(`\scpu\s+ocr\s+yes\s`).Match(out) {
		t.Errorf("sfctl workers does not list a ready ocr worker: %v\n%s", err, out)
	}
	out, err = sfctl("sandboxes")
	if err != nil {
		t.Errorf("sfctl sandboxes: %v\n%s", err, out)
		return true
	}
	return regexp.MustCompile(sandbox + `\s+\w+\s+` + id + `\s`).Match(out)
}

// checkSfctlAfter checks what sfctl shows of the finished task.
func checkSfctlAfter(t *testing.T, id string) {
	t.Helper()
	out, err := sfctl("status", id)
	if err != nil || !strings.Contains(string(out), "time in capture") || !strings.Contains(string(out),
		"publish_to_reply") {
		t.Errorf("sfctl status shows no stage times: %v\n%s", err, out)
	}
	out, err = sfctl("tasks", "--limit", "0")
	if err != nil || !regexp.MustCompile(id+`\s+succeeded\s+1\s+7/7`).Match(out) {
		t.Errorf("sfctl tasks does not list %s as succeeded with 7 steps: %v\n%s", id, err, out)
	}
	if strings.Contains(string(out), observeSecret) {
		t.Error("sfctl tasks shows the typed password")
	}
}

var (
	pngBase64 = regexp.MustCompile(`iVBORw0KGgo`)
	// longBase64 is a run no log field has a reason to hold: frame bytes.
	longBase64 = regexp.MustCompile(`[A-Za-z0-9+/]{400,}`)
)

// checkLogs asserts that no log holds the typed password or frame bytes:
// sfctl dev's log (NATS, inferd, worker, dispatcher) and the agent's.
func checkLogs(t *testing.T, agentLog string) {
	t.Helper()
	dev, err := os.ReadFile(filepath.Join(filepath.Dir(shared.bin), "dev.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(agentLog, `"event":"task_accepted"`) {
		t.Errorf("the agent's log was not read during the task:\n%.2000s", agentLog)
	}
	checkLifecycleLines(t, string(dev))
	for name, text := range map[string]string{"dev.log": string(dev), "agentd.log": agentLog} {
		switch {
		case strings.Contains(text, observeSecret):
			t.Errorf("%s holds the typed password", name)
		case strings.Contains(text, "\x89PNG") || pngBase64.MatchString(text):
			t.Errorf("%s holds PNG frame bytes", name)
		case longBase64.MatchString(text):
			t.Errorf("%s holds a long base64 run: %.120s…", name, longBase64.FindString(text))
		}
	}
}

// maxInferInfoLines bounds the info lines of the inference path (worker and
// inferd) in the whole run: a line per frame would be hundreds.
const maxInferInfoLines = 30

// checkLifecycleLines asserts that every info line is a lifecycle event
// with a stable event field and its component, that task and sandbox events
// name their task or sandbox, and that the inference path does not log per
// frame at info.
func checkLifecycleLines(t *testing.T, log string) {
	t.Helper()
	infer := 0
	for _, line := range strings.Split(log, "\n") {
		var ev struct{ Level, Event, Component, Task, Sandbox string }
		if json.Unmarshal([]byte(line), &ev) != nil || ev.Level != "info" {
			continue
		}
		if ev.Event == "" || ev.Component == "" {
			t.Errorf("info line without an event or component field: %s", line)
		}
		if (strings.HasPrefix(ev.Event, "task_") && ev.Task == "") ||
			(strings.HasPrefix(ev.Event, "sandbox_") && ev.Sandbox == "") {
			t.Errorf("%s line without its identity field: %s", ev.Event, line)
		}
		if ev.Component == "worker" || ev.Component == "inferd" {
			infer++
		}
	}
	if infer > maxInferInfoLines {
		t.Errorf("worker and inferd logged %d info lines: per-frame logging at info?", infer)
	}
}
