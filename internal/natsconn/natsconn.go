// Package natsconn turns the NATS client flags every screenfleet command
// shares (--tls-ca, --tls-cert, --tls-key) into nats.go options.
package natsconn

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
)

// ErrTLSPair is returned when only one of --tls-cert and --tls-key is set.
var ErrTLSPair = errors.New("--tls-cert and --tls-key go together")

// flagSet is what flag.FlagSet and pflag.FlagSet both offer.
type flagSet interface {
	StringVar(p *string, name, value, usage string)
}

// TLS holds the client TLS flags. The zero value dials without TLS unless
// the URL says tls://.
type TLS struct {
	CA   string // PEM file of the CAs that sign the server's certificate
	Cert string // PEM client certificate, for servers that verify clients
	Key  string // PEM key of Cert
}

// AddFlags declares --tls-ca, --tls-cert and --tls-key on fs.
func (t *TLS) AddFlags(fs flagSet) {
	fs.StringVar(&t.CA, "tls-ca", "", "PEM file of the CA that signs the NATS server's certificate (enables TLS)")
	fs.StringVar(&t.Cert, "tls-cert", "", "PEM client certificate for NATS (with --tls-key)")
	fs.StringVar(&t.Key, "tls-key", "", "PEM key of --tls-cert")
}

// Enabled reports whether any TLS flag is set.
func (t TLS) Enabled() bool { return t.CA != "" || t.Cert != "" || t.Key != "" }

// Options returns the nats.go options the flags ask for, or an error that
// names the flag when a file is missing or only half a key pair is given.
// The files are read again at each (re)connect by nats.go.
func (t TLS) Options() ([]nats.Option, error) {
	if (t.Cert == "") != (t.Key == "") {
		return nil, ErrTLSPair
	}
	var opts []nats.Option
	for _, f := range []struct{ flag, path string }{{"--tls-ca", t.CA}, {"--tls-cert", t.Cert}, {"--tls-key", t.Key}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return nil, fmt.Errorf("%s: %w", f.flag, err)
		}
	}
	if t.CA != "" {
		opts = append(opts, nats.RootCAs(t.CA))
	}
	if t.Cert != "" {
		opts = append(opts, nats.ClientCert(t.Cert, t.Key))
	}
	return opts, nil
}

// Redact returns the server URLs (one, or a comma-separated list) with any
// password or token replaced, for logs and error messages.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		if _, hasPassword := u.User.Password(); !hasPassword {
			u.User = url.User("xxxxx") // a user name alone is a token
		}
		parts[i] = u.Redacted()
	}
	return strings.Join(parts, ",")
}
