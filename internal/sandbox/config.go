package sandbox

import "time"

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
}
