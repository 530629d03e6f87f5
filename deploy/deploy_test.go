// Package deploy_test checks the deployment files: the Prometheus
// configurations pass promtool, and the Grafana dashboard is valid, its
// queries parse, and every metric they name is one the code exports.
package deploy_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const dashboardPath = "grafana/dashboards/screenfleet.json"

// dashboard is the part of Grafana's dashboard model the checks read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type variable struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (make deps installs Debian's prometheus package)")
	}
	return path
}

func TestPrometheusConfigsPassPromtool(t *testing.T) {
	out, err := exec.Command(promtool(t), "check", "config", "prometheus.yml",
		"prometheus-dev.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardPath, err)
	}
	return d
}

func TestDashboardIsWellFormed(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard lacks uid, title or panels: %+v", d)
	}
	if !slices.Contains(d.Templating.List, variable{Name: "datasource", Type: "datasource"}) {
		t.Error("no datasource variable: the panels' ${datasource} would not resolve")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q is outside the 24-column grid: %+v", p.Title, p.GridPos)
		}
		if p.Type != "row" {
			checkPanel(t, p)
		}
	}
}

func checkPanel(t *testing.T, p panel) {
	t.Helper()
	if p.Title == "" || p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
		t.Errorf("panel %d (%q) needs a title, the ${datasource} datasource and queries", p.ID, p.Title)
	}
	refs := map[string]bool{}
	for _, tg := range p.Targets {
		if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] {
			t.Errorf("panel %q: query %q has an empty expression or a missing or repeated refId", p.Title, tg.RefID)
		}
		refs[tg.RefID] = true
	}
}

// queries returns every query of the dashboard, with Grafana's variables
// replaced by what Prometheus would see.
func queries(d dashboard) []string {
	var out []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, strings.ReplaceAll(tg.Expr, "$__rate_interval", "1m"))
		}
	}
	return out
}

func TestDashboardQueriesParse(t *testing.T) {
	tool := promtool(t)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, q := range queries(readDashboard(t)) {
		b, _ := json.Marshal(q) // a JSON string is a valid YAML scalar
		fmt.Fprintf(&rules, "      - record: dashboard:query%d\n        expr: %s\n", i, b)
	}
	path := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("a dashboard query does not parse: %v\n%s", err, out)
	}
}

var (
	queryMetric = regexp.MustCompile(`\bsf_[a-z0-9_]+\b`)
	// codeMetric finds metric names where the code defines them: in
	// collector options (Name: "sf_…") and in descriptions (NewDesc("sf_…").
	codeMetric = regexp.MustCompile(`(?:Name:\s*|NewDesc\(\s*)"(sf_[a-z0-9_]+)"`)
)

func TestDashboardMetricsExistInCode(t *testing.T) {
	defined := metricsInCode(t, "../internal", "../pkg")
	for _, q := range queries(readDashboard(t)) {
		for _, name := range queryMetric.FindAllString(q, -1) {
			if !defined[name] && !defined[histogramBase(name)] {
				t.Errorf("the dashboard queries %s, which no code exports (query: %s)", name, q)
			}
		}
	}
}

// histogramBase strips the suffix of a histogram's series.
func histogramBase(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return base
		}
	}
	return name
}

// metricsInCode collects the metric names defined in the Go sources under dirs.
func metricsInCode(t *testing.T, dirs ...string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			for _, m := range codeMetric.FindAllSubmatch(b, -1) {
				names[string(m[1])] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %d metric definitions: the pattern no longer matches the code", len(names))
	}
	return names
}
