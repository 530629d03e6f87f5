package main

import (
	"testing"
	"time"
)

func TestFlagsAndEnvironment(t *testing.T) {
	t.Setenv("SF_MAX_SANDBOXES", "7")
	o, err := parseFlags([]string{"--nats-url", "nats://127.0.0.1:4222", "--agentd", "/x/agentd",
		"--assign-timeout", "5s", "--id", "d1"})
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.MaxSandboxes != 7 || o.cfg.NATSURL != "nats://127.0.0.1:4222" || o.process.AgentdPath != "/x/agentd" ||
		o.cfg.AssignTimeout != 5*time.Second || o.cfg.ID != "d1" || o.cfg.HTTPAddr != "127.0.0.1:9102" {
		t.Errorf("parsed %+v", o)
	}
	if _, err := parseFlags([]string{"extra"}); err == nil {
		t.Error("stray argument accepted")
	}
}

func TestReplicasAndAckWait(t *testing.T) {
	t.Setenv("SF_REPLICAS", "3")
	o, err := parseFlags([]string{"--nats-url", "nats://a:4222,nats://b:4222", "--ack-wait", "20s"})
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.Replicas != 3 || o.cfg.AckWait != 20*time.Second || o.cfg.NATSURL != "nats://a:4222,nats://b:4222" {
		t.Errorf("replicas %d, ack wait %s, url %q", o.cfg.Replicas, o.cfg.AckWait, o.cfg.NATSURL)
	}
	for _, bad := range []string{"0", "6", "-1"} {
		if _, err := parseFlags([]string{"--replicas", bad}); err == nil {
			t.Errorf("--replicas %s accepted", bad)
		}
	}
}
