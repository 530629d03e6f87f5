package agentauth_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/agentauth"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

var secret = []byte("service-test-secret-0123456789")

// syncBuffer is a log sink the callout's goroutine writes while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startCallout runs a server whose only configured user is the authorizer
// and the service on its connection, logging to the returned buffer.
func startCallout(t *testing.T) (*server.Server, *syncBuffer, []byte) {
	t.Helper()
	kp, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		Users: []*server.User{{Username: "authorizer", Password: "authz"}},
		AuthCallout: &server.AuthCallout{Issuer: pub, Account: agentauth.GlobalAccount,
			AuthUsers: []string{"authorizer"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	logs := &syncBuffer{}
	stop, err := agentauth.Serve(strings.Replace(srv.ClientURL(), "nats://", "nats://authorizer:authz@", 1),
		nil, agentauth.Config{Secret: secret, IssuerSeed: seed, Subjects: messages.NewSubjects("")},
		zerolog.New(logs).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return srv, logs, seed
}

func TestServiceAdmitsAndRefusesWithoutLoggingSecrets(t *testing.T) {
	srv, logs, seed := startCallout(t)
	good := agentauth.Password(secret, "sb-1")
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("sb-1", good))
	if err != nil {
		t.Fatalf("the agent of sb-1 was refused: %v", err)
	}
	nc.Close()
	wrong := agentauth.Password(secret, "sb-2")
	for _, user := range []string{"sb-1", "a password typed as a user name"} {
		if nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(user, wrong)); err == nil {
			nc.Close()
			t.Fatalf("%q with a wrong password was admitted", user)
		} else if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("%q refused with %v, want an authorization violation", user, err)
		}
	}
	out := logs.String()
	for _, want := range []string{`"event":"agent_auth_accepted"`, `"event":"agent_auth_refused"`,
		`"reason":"wrong password"`, `"sandbox":"sb-1"`, `"reason":"user name is not a sandbox id"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
	for _, s := range []string{good, wrong, string(secret), string(seed), "typed as a user"} {
		if strings.Contains(out, s) {
			t.Errorf("the log holds a secret %q:\n%s", s, out)
		}
	}
}

func TestStartRefusesBadConfig(t *testing.T) {
	srv, _, seed := startCallout(t)
	nc, err := nats.Connect(strings.Replace(srv.ClientURL(), "nats://", "nats://authorizer:authz@", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	userKP, _ := nkeys.CreateUser()
	userSeed, _ := userKP.Seed()
	for _, cfg := range []agentauth.Config{
		{Secret: []byte("short"), IssuerSeed: seed},
		{Secret: secret, IssuerSeed: userSeed},
		{Secret: secret, IssuerSeed: []byte("not a seed")},
	} {
		if _, err := agentauth.Start(nc, cfg, zerolog.Nop()); !errors.Is(err, agentauth.ErrConfig) {
			t.Errorf("Start took a bad config: %v", err)
		}
	}
}
