//go:build linux

package sandbox

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Container labels. Every sandbox container carries LabelSandbox (its
// sandbox id); the others come from Spec.Labels ("task" becomes
// LabelTask, and so on), so a restarted dispatcher can tell whose it was.
const (
	LabelSandbox    = "io.screenfleet.sandbox"
	LabelTask       = "io.screenfleet.task"
	LabelAttempt    = "io.screenfleet.attempt"
	LabelDispatcher = "io.screenfleet.dispatcher"
	labelPrefix     = "io.screenfleet."
	labelNetwork    = "io.screenfleet.network"
)

// Defaults of DockerConfig fields left zero.
const (
	DefaultDockerImage   = "screenfleet/sandbox:latest"
	DefaultDockerNetwork = "screenfleet"
	// DefaultShmSize is 1 GiB: Docker's 64 MiB /dev/shm crashes Firefox
	// content processes under load (field case C21).
	DefaultShmSize = 1 << 30
	// DefaultMemory is 2 GiB: Firefox ESR with one tab, Xvfb at 1280x800
	// and agentd use 500-800 MB; heavy pages double that.
	DefaultMemory = 2 << 30
	// DefaultCPUs is one CPU: a sandbox mostly waits on inference.
	DefaultCPUs = 1.0
	// DefaultPidsLimit bounds fork bombs and zombie pile-ups (C21);
	// Firefox runs about 150 threads, each of which counts.
	DefaultPidsLimit = 1024

	// minAPIVersion is the oldest Engine API the runtime is tested
	// against: Docker 20.10. Older engines fail start-up once, plainly.
	minAPIVersion = "1.41"

	// vncPort is x11vnc's port inside the container.
	vncPort = "5900/tcp"

	// sandboxUser is the image's non-root user (images/sandbox).
	sandboxUser = "10001:10001"
)

// DockerConfig configures the docker runtime.
type DockerConfig struct {
	// Image is the sandbox image; empty means DefaultDockerImage.
	Image string
	// Profiles are the other images a task may ask for by name
	// (app.profile); a name not here is refused with ErrUnknownProfile.
	Profiles map[string]string
	// Network is the user-defined network the sandboxes join, created if
	// missing; empty means DefaultDockerNetwork.
	Network string
	// NATSURL is the server URL as seen from inside the network; empty
	// means Spec.NATSURL, which is right only when that name resolves
	// there (e.g. nats://nats:4222 on a compose network).
	NATSURL string
	// ShmSize, Memory (bytes), CPUs and PidsLimit are each container's
	// limits; zero means the defaults above. Memory is also the swap limit.
	ShmSize, Memory int64
	CPUs            float64
	PidsLimit       int64
	// VNC runs x11vnc in each sandbox with a generated password and
	// publishes port 5900 on VNCHostIP (empty: 127.0.0.1) at a free port.
	VNC       bool
	VNCHostIP string
	// VNCInput lets VNC viewers type and click; by default they only watch.
	VNCInput bool
	// StopGrace is the wait between SIGTERM and SIGKILL; 0 means 5 s.
	StopGrace time.Duration
	// Env is added to each container's environment (KEY=value).
	Env []string
	// AgentAuth, if set, gives each agent its own NATS user and password
	// in place of those of the NATS URL.
	AgentAuth AgentAuth
}

func (c *DockerConfig) setDefaults() {
	if c.Image == "" {
		c.Image = DefaultDockerImage
	}
	if c.Network == "" {
		c.Network = DefaultDockerNetwork
	}
	if c.ShmSize <= 0 {
		c.ShmSize = DefaultShmSize
	}
	if c.Memory <= 0 {
		c.Memory = DefaultMemory
	}
	if c.CPUs <= 0 {
		c.CPUs = DefaultCPUs
	}
	if c.PidsLimit <= 0 {
		c.PidsLimit = DefaultPidsLimit
	}
	if c.VNCHostIP == "" {
		c.VNCHostIP = "127.0.0.1"
	}
	if c.StopGrace <= 0 {
		c.StopGrace = defaultStopGrace
	}
}

// Docker is the runtime that runs each sandbox as one container of the
// sandbox image, through the Docker Engine API.
type Docker struct {
	cfg DockerConfig
	api engine
	log zerolog.Logger

	mu       sync.Mutex
	live     map[string]*dockerSandbox // by container id
	creating map[string]bool           // sandbox ids whose container is being created

	stopWatch context.CancelFunc
	watchDone chan struct{}
}

// NewDocker connects to the engine named by the environment (DOCKER_HOST
// and friends), negotiating the API version, checks that the image exists
// and creates the network if it is missing. ctx bounds these checks. The
// runtime then watches the engine's events until Close.
func NewDocker(ctx context.Context, cfg DockerConfig, log zerolog.Logger) (*Docker, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("sandbox: docker client: %w", err)
	}
	d, err := newDocker(ctx, cfg, cli, log)
	if err != nil {
		_ = cli.Close()
		return nil, err
	}
	return d, nil
}

func newDocker(ctx context.Context, cfg DockerConfig, api engine, log zerolog.Logger) (*Docker, error) {
	cfg.setDefaults()
	d := &Docker{cfg: cfg, api: api, log: log, live: make(map[string]*dockerSandbox),
		creating: make(map[string]bool), watchDone: make(chan struct{})}
	if err := d.checkEngine(ctx); err != nil {
		return nil, err
	}
	if err := checkImages(ctx, api, cfg); err != nil {
		return nil, err
	}
	if err := d.ensureNetwork(ctx); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.stopWatch = cancel
	go d.watch(wctx)
	return d, nil
}

// checkEngine pings the engine, which settles the negotiated API version
// (C19: a client newer than the engine must not fail every call).
func (d *Docker) checkEngine(ctx context.Context) error {
	ping, err := d.api.Ping(ctx)
	if err != nil {
		return fmt.Errorf("sandbox: docker engine unreachable: %w", err)
	}
	d.api.NegotiateAPIVersionPing(ping) // now, not on the first versioned call
	version := d.api.ClientVersion()
	d.log.Info().Str("event", "docker_connected").Str("api_version", version).
		Str("engine_api_version", ping.APIVersion).Msg("docker engine API version negotiated")
	if versions.LessThan(version, minAPIVersion) {
		return fmt.Errorf("sandbox: docker engine API %s is older than %s (Docker 20.10), the oldest supported",
			version, minAPIVersion)
	}
	return nil
}

// ensureNetwork creates the sandboxes' network unless it exists. Two
// dispatchers creating it at once is fine: the loser sees a conflict.
func (d *Docker) ensureNetwork(ctx context.Context) error {
	_, err := d.api.NetworkInspect(ctx, d.cfg.Network, network.InspectOptions{})
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("sandbox: network %s: %w", d.cfg.Network, err)
	}
	_, err = d.api.NetworkCreate(ctx, d.cfg.Network, network.CreateOptions{Driver: "bridge",
		Labels: map[string]string{labelNetwork: "true"}})
	if err != nil && !cerrdefs.IsConflict(err) {
		return fmt.Errorf("sandbox: create network %s: %w", d.cfg.Network, err)
	}
	d.log.Info().Str("event", "network_created").Str("network", d.cfg.Network).Msg("sandbox network created")
	return nil
}

// Name returns "docker".
func (d *Docker) Name() string { return "docker" }

// Network returns the network the sandboxes join.
func (d *Docker) Network() string { return d.cfg.Network }

// Close stops watching the engine's events and closes the client. The
// sandboxes still running are not stopped: their owners stop them.
func (d *Docker) Close() error {
	d.stopWatch()
	<-d.watchDone
	return d.api.Close()
}

// Start creates and starts the sandbox's container. It returns once the
// container runs; its entrypoint then starts Xvfb and agentd.
func (d *Docker) Start(ctx context.Context, spec Spec) (Sandbox, error) {
	if err := messages.CheckToken("sandbox id", spec.ID); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	began := time.Now()
	sb := &dockerSandbox{rt: d, id: spec.ID, started: began, done: make(chan struct{})}
	sb.log = d.log.With().Str("sandbox", spec.ID).Fields(labelFields(spec.Labels)).Logger()
	config, host, err := d.containerConfig(spec, sb)
	if err != nil {
		return nil, err
	}
	created, err := d.create(ctx, config, host, sb)
	if err != nil {
		return nil, err
	}
	if err := d.api.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		d.discard(context.WithoutCancel(ctx), sb)
		return nil, fmt.Errorf("sandbox %s: start container: %w", spec.ID, err)
	}
	if err := d.readPorts(ctx, sb); err != nil {
		d.discard(context.WithoutCancel(ctx), sb)
		return nil, err
	}
	sb.log.Info().Str("event", "sandbox_started").Str("runtime", "docker").
		Str("container", shortContainer(created.ID)).Str("vnc", sb.vnc).
		Dur("elapsed", time.Since(began)).Msg("sandbox started")
	return sb, nil
}

// containerName is the container's name: the sandbox id with a prefix that
// says whose it is in `docker ps`.
func containerName(id string) string { return "screenfleet-" + id }

func shortContainer(id string) string { return id[:min(12, len(id))] }

// checkImages makes sure the default image and every profile's are present.
func checkImages(ctx context.Context, api engine, cfg DockerConfig) error {
	images := []string{cfg.Image}
	for _, name := range slices.Sorted(maps.Keys(cfg.Profiles)) {
		images = append(images, cfg.Profiles[name])
	}
	for _, image := range images {
		if _, err := api.ImageInspect(ctx, image); err != nil {
			return fmt.Errorf("sandbox: image %s (make images builds the default one): %w", image, err)
		}
	}
	return nil
}

// imageFor picks the image of spec's profile.
func (c DockerConfig) imageFor(spec Spec) (string, error) {
	if spec.Profile == "" {
		return c.Image, nil
	}
	if image, ok := c.Profiles[spec.Profile]; ok {
		return image, nil
	}
	known := slices.Sorted(maps.Keys(c.Profiles))
	return "", fmt.Errorf("%w %q (this dispatcher has: %s)", ErrUnknownProfile, spec.Profile,
		strings.Join(append([]string{"the default"}, known...), ", "))
}

// containerConfig builds the container: the sandbox's identity and limits,
// hardening, and the VNC port.
func (d *Docker) containerConfig(spec Spec, sb *dockerSandbox) (*container.Config,
	*container.HostConfig, error) {
	image, err := d.cfg.imageFor(spec)
	if err != nil {
		return nil, nil, err
	}
	natsURL := d.cfg.NATSURL
	if natsURL == "" {
		natsURL = spec.NATSURL
	}
	// Like the VNC password, the agent's NATS password is readable by
	// whoever may inspect the container through the Docker socket.
	if natsURL, err = agentNATSURL(natsURL, d.cfg.AgentAuth, spec.ID); err != nil {
		return nil, nil, err
	}
	env := append([]string{
		"SF_SANDBOX=" + spec.ID,
		"SF_NATS_URL=" + natsURL,
		"SF_SUBJECT_PREFIX=" + messages.NewSubjects(spec.SubjectPrefix).Prefix(),
		"SF_WIDTH=" + strconv.Itoa(orDefault(spec.Width, 1280)),
		"SF_HEIGHT=" + strconv.Itoa(orDefault(spec.Height, 800)),
		"SF_VNC_VIEWONLY=" + strconv.FormatBool(!d.cfg.VNCInput),
	}, d.cfg.Env...)
	if d.cfg.VNC {
		pw, err := vncPassword()
		if err != nil {
			return nil, nil, fmt.Errorf("sandbox %s: %w", spec.ID, err)
		}
		sb.vncPassword = pw
		env = append(env, "SF_VNC_PASSWORD="+pw)
	}
	stop := int(d.cfg.StopGrace.Seconds() + 0.5)
	config := &container.Config{Image: image, Env: env, User: sandboxUser,
		Labels: containerLabels(spec), StopTimeout: &stop,
		ExposedPorts: nat.PortSet{vncPort: struct{}{}}}
	return config, d.hostConfig(), nil
}

func (d *Docker) hostConfig() *container.HostConfig {
	init := true // reaps the orphans a browser leaves (C21)
	pids := d.cfg.PidsLimit
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(d.cfg.Network),
		Init:        &init,
		CapDrop:     []string{"ALL"},
		SecurityOpt: []string{"no-new-privileges"},
		ShmSize:     d.cfg.ShmSize,
		Resources: container.Resources{Memory: d.cfg.Memory, MemorySwap: d.cfg.Memory,
			NanoCPUs: int64(d.cfg.CPUs * 1e9), PidsLimit: &pids},
	}
	if d.cfg.VNC {
		host.PortBindings = nat.PortMap{vncPort: {{HostIP: d.cfg.VNCHostIP}}} // a free port
	}
	return host
}

func containerLabels(spec Spec) map[string]string {
	labels := map[string]string{LabelSandbox: spec.ID}
	for k, v := range spec.Labels {
		labels[labelPrefix+k] = v
	}
	return labels
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// vncPassword makes a password of 8 characters: VNC authentication uses
// only the first 8, so a longer one would only look stronger.
func vncPassword() (string, error) {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	buf := make([]byte, 8)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("vnc password: %w", err)
	}
	for i, b := range buf {
		buf[i] = alphabet[int(b)%len(alphabet)]
	}
	return string(buf), nil
}

// readPorts learns where the engine published the VNC port.
func (d *Docker) readPorts(ctx context.Context, sb *dockerSandbox) error {
	if !d.cfg.VNC {
		return nil
	}
	info, err := d.api.ContainerInspect(ctx, sb.container)
	if err != nil {
		return fmt.Errorf("sandbox %s: inspect container: %w", sb.id, err)
	}
	if info.NetworkSettings == nil {
		return nil
	}
	for _, b := range info.NetworkSettings.Ports[vncPort] {
		if b.HostPort != "" {
			sb.vnc = b.HostIP + ":" + b.HostPort
			return nil
		}
	}
	return nil
}

// create creates sb's container and holds it before it starts, since its
// die event may come at once. While it is being created, Leftovers does
// not list it even though it is not held yet.
func (d *Docker) create(ctx context.Context, config *container.Config, host *container.HostConfig,
	sb *dockerSandbox) (container.CreateResponse, error) {
	d.setCreating(sb.id, true)
	defer d.setCreating(sb.id, false)
	created, err := d.api.ContainerCreate(ctx, config, host, nil, nil, containerName(sb.id))
	if err != nil {
		return created, fmt.Errorf("sandbox %s: create container: %w", sb.id, err)
	}
	sb.container = created.ID
	d.mu.Lock()
	defer d.mu.Unlock()
	d.live[sb.container] = sb
	return created, nil
}

func (d *Docker) setCreating(id string, on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if on {
		d.creating[id] = true
	} else {
		delete(d.creating, id)
	}
}

// holds reports whether the container is one of this runtime's sandboxes,
// or is being created for one.
func (d *Docker) holds(container, sandbox string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.live[container] != nil || d.creating[sandbox]
}

func (d *Docker) release(sb *dockerSandbox) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.live, sb.container)
}

func (d *Docker) holding(container string) *dockerSandbox {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.live[container]
}

// discard removes a container whose start failed.
func (d *Docker) discard(ctx context.Context, sb *dockerSandbox) {
	d.release(sb)
	err := d.api.ContainerRemove(ctx, sb.container, container.RemoveOptions{Force: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		sb.log.Error().Err(err).Msg("cannot remove the container of a failed start")
	}
}

var errNoContainer = errors.New("container is gone")
