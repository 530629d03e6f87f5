package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/screenfleet/screenfleet/internal/agentauth"
)

func TestAgentAuthFromEnvironment(t *testing.T) {
	kp, _ := nkeys.CreateAccount()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "seed")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "the-agents-secret-0123"
	t.Setenv("SF_AGENT_SECRET", secret)
	t.Setenv("SF_CALLOUT_SEED_FILE", seedFile)
	t.Setenv("SF_CALLOUT_NATS_URL", "nats://authorizer:pw@127.0.0.1:4222")
	o, err := parseFlags([]string{"--nats-url", "nats://127.0.0.1:4222"})
	if err != nil {
		t.Fatal(err)
	}
	if o.process.AgentAuth == nil || o.docker.AgentAuth == nil {
		t.Fatal("the runtimes give agents no credentials")
	}
	user, pw := o.docker.AgentAuth("sb-1")
	if user != "sb-1" || pw != agentauth.Password([]byte(secret), "sb-1") ||
		string(o.authCfg.IssuerSeed) != string(seed) {
		t.Errorf("agent of sb-1 gets %q/%q", user, pw)
	}

	t.Setenv("SF_CALLOUT_NATS_URL", "")
	_, err = parseFlags([]string{"--nats-url", "nats://127.0.0.1:4222"})
	if err == nil || !strings.Contains(err.Error(), "--callout-nats-url") ||
		strings.Contains(err.Error(), secret) {
		t.Errorf("a secret without the callout URL: %v", err)
	}
}
