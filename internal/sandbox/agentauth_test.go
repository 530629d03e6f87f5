package sandbox

import (
	"strings"
	"testing"
)

func TestAgentNATSURLGivesEachAgentItsUser(t *testing.T) {
	auth := func(id string) (string, string) { return id, "pw-of-" + id }
	cases := []struct{ in, want string }{
		{"nats://dispatcher:disp-pw@nats:4222", "nats://sb-1:pw-of-sb-1@nats:4222"},
		{"nats://127.0.0.1:4222", "nats://sb-1:pw-of-sb-1@127.0.0.1:4222"},
		{"127.0.0.1:4222", "nats://sb-1:pw-of-sb-1@127.0.0.1:4222"},
		{"tls://a:1@n1:4222, tls://n2:4222", "tls://sb-1:pw-of-sb-1@n1:4222,tls://sb-1:pw-of-sb-1@n2:4222"},
	}
	for _, c := range cases {
		got, err := agentNATSURL(c.in, auth, "sb-1")
		if err != nil || got != c.want {
			t.Errorf("agentNATSURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if got, err := agentNATSURL("nats://u:p@h:1", nil, "sb-1"); err != nil || got != "nats://u:p@h:1" {
		t.Errorf("without AgentAuth the URL changed: %q, %v", got, err)
	}
	_, err := agentNATSURL("nats://old:secret-pw@:4222", auth, "sb-1")
	if err == nil || !strings.Contains(err.Error(), "not a URL") || strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("a URL without a host: %v", err)
	}
}
