package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsAndEnv(t *testing.T) {
	t.Setenv("SF_NATS_URL", "nats://10.0.0.1:4222")
	t.Setenv("SF_INFER_TIMEOUT", "7s")
	t.Setenv("DISPLAY", "")
	o, err := parse([]string{"--sandbox", "sb-1", "--display", ":7", "--http-addr", ""}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.NATSURL != "nats://10.0.0.1:4222" || c.Sandbox != "sb-1" || c.Display != ":7" ||
		c.InferTimeout != 7*time.Second || c.HTTPAddr != "" || c.SubjectPrefix != "sf" {
		t.Errorf("config = %+v", c)
	}
}

func TestParseRequiresSandboxAndDisplay(t *testing.T) {
	t.Setenv("DISPLAY", "")
	for _, args := range [][]string{{"--display", ":1"}, {"--sandbox", "sb"}} {
		if _, err := parse(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parse(%q) succeeded", args)
		}
	}
	if code := run([]string{"--bogus"}, &bytes.Buffer{}); code != 2 {
		t.Errorf("exit code for a bad flag = %d, want 2", code)
	}
}

// TestNoDockerClient keeps the Docker SDK out of the sandbox binary.
func TestNoDockerClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "github.com/docker/") || strings.Contains(dep, "github.com/moby/") {
			t.Errorf("agentd links %s", dep)
		}
	}
}
