package sandbox

import (
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestImageForProfile(t *testing.T) {
	cfg := DockerConfig{Image: "screenfleet/sandbox:latest",
		Profiles: map[string]string{"chromium": "screenfleet/sandbox-chromium:1"}}
	for _, c := range []struct{ profile, want string }{
		{"", "screenfleet/sandbox:latest"},
		{"chromium", "screenfleet/sandbox-chromium:1"},
	} {
		got, err := cfg.imageFor(Spec{Profile: c.profile})
		if err != nil || got != c.want {
			t.Errorf("profile %q: image %q, %v; want %q", c.profile, got, err, c.want)
		}
	}
	_, err := cfg.imageFor(Spec{Profile: "lynx"})
	if !errors.Is(err, ErrUnknownProfile) || !strings.Contains(err.Error(), `"lynx"`) ||
		!strings.Contains(err.Error(), "chromium") {
		t.Fatalf("unknown profile: %v", err)
	}
}

func TestProcessRefusesProfiles(t *testing.T) {
	p, err := NewProcess(ProcessConfig{AgentdPath: "/bin/true", WorkRoot: t.TempDir()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Start(t.Context(), Spec{ID: "sb-prof", Profile: "chromium"})
	if !errors.Is(err, ErrUnknownProfile) {
		t.Fatalf("process runtime with a profile: %v", err)
	}
}

func TestWarmSandboxFitsOnlyItsProfile(t *testing.T) {
	if fits(Spec{}, Spec{Profile: "chromium"}) || !fits(Spec{Profile: "x"}, Spec{Profile: "x"}) {
		t.Fatal("a warm sandbox must serve only tasks of its own profile")
	}
}
