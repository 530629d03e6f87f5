package agentauth

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/framestore"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// CalloutSubject is where the NATS server sends its authorization
	// requests (nats-server's AuthCalloutSubject).
	CalloutSubject = "$SYS.REQ.USER.AUTH"
	// Queue is the queue group the dispatchers answer in, so one of them
	// answers each request.
	Queue = "sf-authorizers"
	// GlobalAccount is the account a server without configured accounts
	// puts its users in, and so where agents are placed.
	GlobalAccount = "$G"
	// MinSecretLen is the shortest secret accepted, in bytes: an HMAC key
	// shorter than 128 bits could be guessed.
	MinSecretLen = 16
	// replyWindow is how long an agent may take to answer a request it
	// received (its assignments): it answers at once, but a loaded machine
	// may hold it back for seconds.
	replyWindow = time.Minute
)

var (
	// ErrConfig is returned for a configuration the service cannot run with.
	ErrConfig = errors.New("agentauth: config")
	// errRefused is what the server and the refused client are told. It
	// says nothing of why, so a guesser learns nothing.
	errRefused = errors.New("agent credentials refused")
)

// Config configures the auth callout service.
type Config struct {
	// Secret is the key agents' passwords derive from (Password). Every
	// dispatcher of a deployment holds the same one. At least MinSecretLen
	// bytes.
	Secret []byte
	// IssuerSeed is the account nkey seed ("SA...") the service signs its
	// answers with; nats.conf's auth_callout issuer is its public key.
	IssuerSeed []byte
	// Account is the account agents are placed in; empty means
	// GlobalAccount.
	Account string
	// Subjects are the deployment's subjects.
	Subjects messages.Subjects
}

// Service answers the NATS server's authorization requests for agents.
type Service struct {
	cfg    Config
	issuer nkeys.KeyPair
	log    zerolog.Logger
	sub    *nats.Subscription
}

// Start checks cfg and subscribes nc, which must be a connection of a user
// listed in auth_callout's auth_users, to the callout subject. It returns
// once the server has the subscription.
func Start(nc *nats.Conn, cfg Config, log zerolog.Logger) (*Service, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: agent secret: %d bytes, want at least %d", ErrConfig, len(cfg.Secret),
			MinSecretLen)
	}
	issuer, err := IssuerKey(cfg.IssuerSeed)
	if err != nil {
		return nil, err
	}
	if cfg.Account == "" {
		cfg.Account = GlobalAccount
	}
	pub, _ := issuer.PublicKey()
	s := &Service{cfg: cfg, issuer: issuer, log: log.With().Str("component", "agentauth").Logger()}
	if s.sub, err = nc.QueueSubscribe(CalloutSubject, Queue, s.handle); err != nil {
		return nil, fmt.Errorf("agentauth: subscribe %s: %w", CalloutSubject, err)
	}
	if err := nc.Flush(); err != nil {
		_ = s.sub.Unsubscribe()
		return nil, fmt.Errorf("agentauth: subscribe %s: %w", CalloutSubject, err)
	}
	if err := nc.LastError(); err != nil {
		_ = s.sub.Unsubscribe()
		return nil, fmt.Errorf("agentauth: subscribe %s (is this user in auth_callout's auth_users?): %w",
			CalloutSubject, err)
	}
	s.log.Info().Str("event", "auth_callout_started").Str("issuer", pub).Str("account", cfg.Account).
		Msg("agent auth callout serving")
	return s, nil
}

// IssuerKey returns the account key pair of seed, or an error that says
// what the seed is instead.
func IssuerKey(seed []byte) (nkeys.KeyPair, error) {
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("%w: callout seed: not an nkey seed: %w", ErrConfig, err)
	}
	if pub, _ := kp.PublicKey(); !nkeys.IsValidPublicAccountKey(pub) {
		return nil, fmt.Errorf("%w: callout seed: not an account seed (want one starting with SA)", ErrConfig)
	}
	return kp, nil
}

// Stop stops answering; requests already received are still answered.
func (s *Service) Stop() error {
	if err := s.sub.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("agentauth: stop: %w", err)
	}
	return nil
}

// handle answers one authorization request: a user JWT for a sandbox whose
// password checks out, an error for anything else.
func (s *Service) handle(m *nats.Msg) {
	req, err := jwt.DecodeAuthorizationRequestClaims(string(m.Data))
	if err != nil {
		// Without the request's user key and server id there is nothing
		// to answer; the server refuses the client when its wait ends.
		s.log.Warn().Err(err).Str("event", "auth_request_invalid").
			Msg("authorization request is not a server's JWT (auth_callout xkey is not supported)")
		return
	}
	resp := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	resp.Audience = req.Server.ID
	user, err := s.authorize(req)
	if err != nil {
		resp.Error = errRefused.Error()
		s.log.Warn().Str("event", "agent_auth_refused").Str("sandbox", loggable(req.ConnectOptions.Username)).
			Str("client_host", req.ClientInformation.Host).Str("reason", err.Error()).Msg("agent refused")
	} else {
		resp.Jwt = user
		s.log.Debug().Str("event", "agent_auth_accepted").Str("sandbox", req.ConnectOptions.Username).
			Str("client_host", req.ClientInformation.Host).Msg("agent admitted")
	}
	token, err := resp.Encode(s.issuer)
	if err != nil {
		s.log.Error().Err(err).Msg("sign authorization response")
		return
	}
	if err := m.Respond([]byte(token)); err != nil {
		s.log.Warn().Err(err).Msg("answer authorization request")
	}
}

// authorize checks the request's credentials and returns the signed user
// JWT of its sandbox, or why it is refused (for the log, not the client).
// Shortcoming: nothing records which sandboxes are alive, so a password
// stays good after its sandbox is gone; whoever kept it can log in again,
// though only as that sandbox.
func (s *Service) authorize(req *jwt.AuthorizationRequestClaims) (string, error) {
	sandbox, password := req.ConnectOptions.Username, req.ConnectOptions.Password
	switch {
	case sandbox == "":
		return "", errors.New("no user name")
	case messages.CheckToken("sandbox", sandbox) != nil:
		return "", errors.New("user name is not a sandbox id")
	case !Verify(s.cfg.Secret, sandbox, password):
		return "", errors.New("wrong password")
	case req.UserNkey == "":
		return "", errors.New("request without a user key")
	}
	uc := jwt.NewUserClaims(req.UserNkey)
	uc.Name = sandbox
	uc.Audience = s.cfg.Account
	uc.Permissions = Permissions(s.cfg.Subjects, sandbox)
	token, err := uc.Encode(s.issuer)
	if err != nil {
		return "", fmt.Errorf("sign user JWT: %w", err)
	}
	return token, nil
}

// Permissions returns what the agent of sandbox may do: send its own
// frames for inference, publish its own frame copies and records and any
// task's progress (the progress subject carries only the task id), take
// its own assignments, read replies in its own inbox, answer the requests
// it received, and put frames over max_payload in the frames bucket.
func Permissions(subj messages.Subjects, sandbox string) jwt.Permissions {
	var p jwt.Permissions
	p.Pub.Allow.Add(subj.Infer("*", sandbox), subj.Frame("*", sandbox), subj.Record("*", sandbox, "*"),
		subj.AllProgress())
	p.Pub.Allow.Add(framestore.AgentSubjects()...) // frames over max_payload (C14)
	p.Sub.Allow.Add(subj.Assign(sandbox), InboxPrefix(sandbox)+".>")
	p.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: replyWindow}
	return p
}

// loggable returns a refused user name for the log: a sandbox id as it
// is, anything else only by length, since a person may have typed a
// password there.
func loggable(user string) string {
	if messages.CheckToken("sandbox", user) != nil || len(user) > 64 {
		return fmt.Sprintf("<%d bytes, not a sandbox id>", len(user))
	}
	return user
}
