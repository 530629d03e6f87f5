package dispatcher

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/screenfleet/screenfleet/internal/recording"
	"github.com/screenfleet/screenfleet/internal/sandbox"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxSandboxes = 2
	DefaultMaxAttempts  = 3
	// DefaultAssignTimeout is how long an assignment is retried while the
	// new sandbox's agent starts and subscribes: agentd connects to NATS
	// within a second or two, but a loaded host can take far longer.
	DefaultAssignTimeout = 20 * time.Second
	// DefaultPullWait bounds one pull request. Shutdown waits for the
	// outstanding pull to end, so it is short; an idle dispatcher sends one
	// small request per PullWait.
	DefaultPullWait = 2 * time.Second
	// DefaultAckWait is the task consumer's redelivery timer. A running
	// task sends InProgress every quarter of it, so only a dispatcher
	// that died leaves a task unacknowledged this long; a minute keeps a
	// dispatcher stalled by a loaded host from losing its tasks.
	DefaultAckWait = 60 * time.Second
	// minAckWait keeps the heartbeat (a quarter of the ack wait) above a
	// second, so that heartbeats do not flood the server.
	minAckWait = 5 * time.Second
)

// Config configures a dispatcher.
type Config struct {
	// NATSURL is the server to connect to, and the URL handed to each
	// sandbox's agent. With Conn set it may be empty: the connection's URL
	// is used.
	NATSURL string
	// NATSOptions are extra dial options (TLS from natsconn), used when
	// Conn is nil.
	NATSOptions []nats.Option
	// Conn is an existing connection to use (sfctl dev, tests); the
	// dispatcher does not close it.
	Conn *nats.Conn
	// SubjectPrefix is the subject prefix ("sf" when empty).
	SubjectPrefix string
	// MaxSandboxes is how many tasks run at once; 0 means 2.
	MaxSandboxes int
	// MaxAttempts is how many sandboxes a task gets before it fails for
	// sandbox reasons; 0 means 3.
	MaxAttempts int
	// AssignTimeout bounds handing a task to a new sandbox's agent; 0 means 20 s.
	AssignTimeout time.Duration
	// PullWait bounds each pull request; 0 means 2 s.
	PullWait time.Duration
	// HTTPAddr serves /metrics, /healthz and /readyz; empty serves nothing.
	HTTPAddr string
	// ID names this dispatcher in task states and logs; empty means the
	// host name and a random suffix.
	ID string
	// Replicas is the replica count of every stream and bucket the
	// dispatcher makes: TASKS, TASKS_DEAD, the task bucket and, unless
	// Recording.Replicas says otherwise, FRAMES and RECORDS. 0 means 1;
	// more than 1 needs a NATS cluster of at least that many JetStream
	// servers. Every dispatcher of a fleet should use the same count.
	Replicas int
	// AckWait is the task consumer's redelivery timer: how long the tasks
	// of a dispatcher that died wait before another one takes them over.
	// 0 means 60 s. Every dispatcher sharing the consumer should use the
	// same value, or each start sets its own.
	AckWait time.Duration
	// Runtime starts the sandboxes. Required.
	Runtime sandbox.Runtime
	// Recording says which runs are kept for replay, and for how long;
	// the zero value records every task that does not ask otherwise.
	Recording recording.Config
}

func (c *Config) setDefaults() error {
	if c.Runtime == nil {
		return errors.New("dispatcher: config: a sandbox runtime is required")
	}
	if c.Conn == nil && c.NATSURL == "" {
		return errors.New("dispatcher: config: a NATS URL or connection is required")
	}
	if c.MaxSandboxes <= 0 {
		c.MaxSandboxes = DefaultMaxSandboxes
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.AssignTimeout <= 0 {
		c.AssignTimeout = DefaultAssignTimeout
	}
	if c.PullWait <= 0 {
		c.PullWait = DefaultPullWait
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Recording.Replicas <= 0 {
		c.Recording.Replicas = c.Replicas
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.AckWait < minAckWait {
		return fmt.Errorf("dispatcher: config: ack wait %s is under the minimum %s", c.AckWait, minAckWait)
	}
	if c.ID == "" {
		c.ID = defaultID()
	}
	for _, tok := range strings.Split(messages.NewSubjects(c.SubjectPrefix).Prefix(), ".") {
		if err := messages.CheckToken("subject prefix token", tok); err != nil {
			return fmt.Errorf("dispatcher: config: %w", err)
		}
	}
	return nil
}

func defaultID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "dispatcher"
	}
	return host + "-" + shortID()
}

// shortID returns 12 random hex digits.
func shortID() string {
	return strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
}
