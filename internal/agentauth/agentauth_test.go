package agentauth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

func TestPasswordIsPerSandboxAndSecret(t *testing.T) {
	secret := []byte("0123456789abcdef0123")
	a := Password(secret, "sb-a")
	if len(a) != 64 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Fatalf("password %q is not 64 hex digits", a)
	}
	if a != Password(secret, "sb-a") {
		t.Error("the same sandbox got two passwords")
	}
	if a == Password(secret, "sb-b") || a == Password([]byte("another secret, as long"), "sb-a") {
		t.Error("a password repeats across sandboxes or secrets")
	}
	if !Verify(secret, "sb-a", a) || Verify(secret, "sb-b", a) || Verify(secret, "sb-a", a[:63]) ||
		Verify(secret, "sb-a", "") {
		t.Error("Verify disagrees with Password")
	}
}

func accountSeed(t *testing.T) string {
	t.Helper()
	kp, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	return string(seed)
}

func TestFlagsLoad(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	seedFile := filepath.Join(dir, "seed")
	seed := accountSeed(t)
	if err := os.WriteFile(secretFile, []byte("a-secret-of-enough-bytes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seedFile, []byte(seed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Flags{SecretFile: secretFile, SeedFile: seedFile, NATSURL: "nats://a:b@h:4222"}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if string(cfg.Secret) != "a-secret-of-enough-bytes" || string(cfg.IssuerSeed) != seed {
		t.Errorf("loaded %q and %q", cfg.Secret, cfg.IssuerSeed)
	}

	userKP, _ := nkeys.CreateUser()
	userSeed, _ := userKP.Seed()
	url := "nats://authorizer:pw@h:4222"
	cases := []struct {
		name  string
		flags Flags
		want  string
	}{
		{"no url", Flags{Secret: "a-secret-of-enough-bytes", Seed: seed}, "--callout-nats-url is required"},
		{"no secret", Flags{Seed: seed, NATSURL: url}, "--agent-secret (or --agent-secret-file) is required"},
		{"secret twice", Flags{Secret: "x", SecretFile: secretFile, Seed: seed, NATSURL: url}, "give one"},
		{"short secret", Flags{Secret: "short", Seed: seed, NATSURL: url}, "5 bytes, want at least 16"},
		{"missing file", Flags{SecretFile: filepath.Join(dir, "none"), Seed: seed, NATSURL: url},
			"--agent-secret-file: open"},
		{"no seed", Flags{SecretFile: secretFile, NATSURL: url}, "--callout-seed (or --callout-seed-file)"},
		{"bad seed", Flags{SecretFile: secretFile, Seed: "SAnotaseed", NATSURL: url}, "not an nkey seed"},
		{"user seed", Flags{SecretFile: secretFile, Seed: string(userSeed), NATSURL: url},
			"not an account seed"},
	}
	for _, c := range cases {
		_, err := c.flags.Load()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an ErrConfig saying %q", c.name, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), seed) || strings.Contains(err.Error(), "enough-bytes")) {
			t.Errorf("%s: the error shows a secret: %v", c.name, err)
		}
	}
}

func TestLoggableHidesWhatIsNoSandboxID(t *testing.T) {
	if got := loggable("sb-1"); got != "sb-1" {
		t.Errorf("loggable(sb-1) = %q", got)
	}
	if got := loggable("my password"); strings.Contains(got, "password") {
		t.Errorf("loggable kept a user name with a space: %q", got)
	}
}
