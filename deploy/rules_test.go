package deploy_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// C17: the stall alert passes promtool's checks and its unit tests (it
// fires within 30 s of sf_dispatcher_consumer_stalled going to 1, and
// clears), and the compose stack's Prometheus loads it.
func TestAlertRulesPassPromtool(t *testing.T) {
	tool := promtool(t)
	if out, err := exec.Command(tool, "check", "rules", "prometheus-rules.yml").CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	out, err := exec.Command(tool, "test", "rules", "prometheus-rules.test.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	for _, f := range []string{"prometheus.yml", "compose.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "prometheus-rules.yml") {
			t.Errorf("%s does not load prometheus-rules.yml", f)
		}
	}
}
