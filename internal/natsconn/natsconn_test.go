package natsconn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/screenfleet/screenfleet/internal/natsconn"
)

// pki is a CA and the certificates it signed, written as PEM files.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPath string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.caKey = newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.caPath = p.write(t, "ca.pem", "CERTIFICATE", der)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (p *pki) write(t *testing.T, name, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue signs a certificate for name (server: for 127.0.0.1) and returns
// the certificate and key files.
func (p *pki) issue(t *testing.T, name string, usage x509.ExtKeyUsage) (certPath, keyPath string) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "EC PRIVATE KEY", kder)
}

// startTLSServer runs a nats-server that speaks only TLS with a certificate
// from p and, when verify is set, requires a client certificate from p.
func startTLSServer(t *testing.T, p *pki, verify bool) *server.Server {
	t.Helper()
	cert, key := p.issue(t, "server", x509.ExtKeyUsageServerAuth)
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cert, KeyFile: key, CaFile: p.caPath,
		Verify: verify})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, TLSConfig: tc, TLSVerify: verify,
		TLSTimeout: 2, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return srv
}

func dial(srv *server.Server, tlsFlags natsconn.TLS) error {
	opts, err := tlsFlags.Options()
	if err != nil {
		return err
	}
	nc, err := nats.Connect(srv.ClientURL(), append(opts, nats.Timeout(3*time.Second))...)
	if err != nil {
		return err
	}
	defer nc.Close()
	return nc.Flush()
}

func TestTLSFlagsReachATLSServer(t *testing.T) {
	p := newPKI(t)
	srv := startTLSServer(t, p, false)
	if err := dial(srv, natsconn.TLS{}); err == nil {
		t.Error("a client without TLS reached a TLS-only server")
	}
	if err := dial(srv, natsconn.TLS{CA: p.caPath}); err != nil {
		t.Errorf("--tls-ca: %v", err)
	}
	other := newPKI(t)
	if err := dial(srv, natsconn.TLS{CA: other.caPath}); err == nil {
		t.Error("a server certificate from another CA was trusted")
	}
}

func TestTLSClientCertificate(t *testing.T) {
	p := newPKI(t)
	srv := startTLSServer(t, p, true)
	if err := dial(srv, natsconn.TLS{CA: p.caPath}); err == nil {
		t.Error("a client without a certificate reached a server that verifies clients")
	}
	cert, key := p.issue(t, "client", x509.ExtKeyUsageClientAuth)
	if err := dial(srv, natsconn.TLS{CA: p.caPath, Cert: cert, Key: key}); err != nil {
		t.Errorf("--tls-cert/--tls-key: %v", err)
	}
}

func TestTLSFlagErrors(t *testing.T) {
	if _, err := (natsconn.TLS{Cert: "c.pem"}).Options(); !errors.Is(err, natsconn.ErrTLSPair) {
		t.Errorf("cert without key: %v, want ErrTLSPair", err)
	}
	_, err := (natsconn.TLS{CA: filepath.Join(t.TempDir(), "missing.pem")}).Options()
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing CA file: %v, want not exist", err)
	}
	if opts, err := (natsconn.TLS{}).Options(); err != nil || len(opts) != 0 {
		t.Errorf("no flags: %d options, %v", len(opts), err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                   "nats://127.0.0.1:4222",
		"nats://agent:s3cret@nats:4222":           "nats://agent:xxxxx@nats:4222",
		"nats://a:p1@n1:4222,nats://a:p2@n2:4222": "nats://a:xxxxx@n1:4222,nats://a:xxxxx@n2:4222",
		"nats://token@nats:4222":                  "nats://xxxxx@nats:4222",
	} {
		if got := natsconn.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
