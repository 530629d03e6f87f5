package sandbox

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/screenfleet/screenfleet/internal/natsconn"
)

// AgentAuth returns the NATS user name and password of a sandbox's agent
// (internal/agentauth), so that each agent connects as its own user.
type AgentAuth func(sandbox string) (user, password string)

// agentNATSURL returns the server URLs (one, or a comma-separated list) the
// agent of sandbox dials: urls with each one's user and password replaced
// by those auth gives, or urls unchanged when auth is nil. The result
// carries a password: it goes to the agent through its environment only.
func agentNATSURL(urls string, auth AgentAuth, sandbox string) (string, error) {
	if auth == nil {
		return urls, nil
	}
	user, password := auth(sandbox)
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if !strings.Contains(p, "://") {
			p = "nats://" + p // nats.go reads a bare host:port the same way
		}
		u, err := url.Parse(p)
		if err != nil || u.Hostname() == "" {
			return "", fmt.Errorf("sandbox %s: NATS URL %q: not a URL", sandbox, natsconn.Redact(p))
		}
		u.User = url.UserPassword(user, password)
		parts[i] = u.String()
	}
	return strings.Join(parts, ","), nil
}

// ProcessConfig configures the process runtime.
type ProcessConfig struct {
	// AgentdPath is the agentd binary. Empty means "agentd" next to the
	// running executable, else "agentd" in PATH.
	AgentdPath string
	// WorkRoot holds one work dir per sandbox; empty means
	// <temp dir>/screenfleet-sandboxes.
	WorkRoot string
	// AgentLogFormat is passed to agentd's --log-format; empty means json.
	AgentLogFormat string
	// AgentHTTPAddr is passed to agentd's --http-addr; empty means
	// 127.0.0.1:0, so that several agents on one host do not collide.
	AgentHTTPAddr string
	// Env is added to the agent's environment (KEY=value).
	Env []string
	// StopGrace is the wait between SIGTERM and SIGKILL; 0 means 5 s.
	StopGrace time.Duration
	// AgentAuth, if set, gives each agent its own NATS user and password
	// in place of those of Spec.NATSURL.
	AgentAuth AgentAuth
}
