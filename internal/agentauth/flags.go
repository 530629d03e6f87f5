package agentauth

import (
	"bytes"
	"fmt"
	"os"
)

// flagSet is what flag.FlagSet and pflag.FlagSet both offer.
type flagSet interface {
	StringVar(p *string, name, value, usage string)
}

// Flags are a dispatcher's auth callout flags. Secrets are best given as
// files or through the environment (SF_AGENT_SECRET, SF_CALLOUT_SEED):
// any local user can read a process's arguments.
type Flags struct {
	SecretFile string
	Secret     string
	SeedFile   string
	Seed       string
	// NATSURL is the server URL, with the authorizer user's password, the
	// service connects with.
	NATSURL string
}

// AddFlags declares the flags on fs.
func (f *Flags) AddFlags(fs flagSet) {
	fs.StringVar(&f.SecretFile, "agent-secret-file", "",
		"file holding the secret each agent's NATS password derives from (with --callout-nats-url)")
	fs.StringVar(&f.Secret, "agent-secret", "",
		"the secret itself; prefer SF_AGENT_SECRET or --agent-secret-file")
	fs.StringVar(&f.SeedFile, "callout-seed-file", "",
		"file holding the account nkey seed (SA...) that signs agents' NATS users; "+
			"nats.conf names its public key")
	fs.StringVar(&f.Seed, "callout-seed", "", "the seed itself; prefer SF_CALLOUT_SEED or --callout-seed-file")
	fs.StringVar(&f.NATSURL, "callout-nats-url", "",
		"NATS URL of the auth callout user (nats://authorizer:<password>@host:4222); "+
			"set with the secret and the seed, each agent gets its own NATS user")
}

// Enabled reports whether any of the flags is set.
func (f Flags) Enabled() bool {
	return f.SecretFile != "" || f.Secret != "" || f.SeedFile != "" || f.Seed != "" || f.NATSURL != ""
}

// Load reads the secret and the seed and checks them. It fails, naming the
// flag, when one is missing, given twice, unreadable or unfit.
func (f Flags) Load() (Config, error) {
	var cfg Config
	if f.NATSURL == "" {
		return cfg, fmt.Errorf("%w: --callout-nats-url is required with the agent secret and the callout seed",
			ErrConfig)
	}
	var err error
	if cfg.Secret, err = value("--agent-secret", f.Secret, f.SecretFile); err != nil {
		return cfg, err
	}
	if len(cfg.Secret) < MinSecretLen {
		return cfg, fmt.Errorf("%w: --agent-secret: %d bytes, want at least %d", ErrConfig, len(cfg.Secret),
			MinSecretLen)
	}
	if cfg.IssuerSeed, err = value("--callout-seed", f.Seed, f.SeedFile); err != nil {
		return cfg, err
	}
	if _, err := IssuerKey(cfg.IssuerSeed); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// value returns the flag's value, or its file's content without the
// surrounding white space.
func value(flag, v, file string) ([]byte, error) {
	switch {
	case v != "" && file != "":
		return nil, fmt.Errorf("%w: %s and %s-file: give one", ErrConfig, flag, flag)
	case v != "":
		return []byte(v), nil
	case file == "":
		return nil, fmt.Errorf("%w: %s (or %s-file) is required with --callout-nats-url", ErrConfig, flag, flag)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %s-file: %w", ErrConfig, flag, err)
	}
	return bytes.TrimSpace(b), nil
}
