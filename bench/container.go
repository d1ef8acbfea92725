package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"

	hcontainer "github.com/highwater-io/highwater/harness/container"
	"github.com/highwater-io/highwater/internal/brokerproc"
)

// ErrNoEngine means no container engine answers the Docker API where
// testcontainers-go will look (DOCKER_HOST, else /var/run/docker.sock).
// It is harness/container's sentinel: both check the engine the same way.
var ErrNoEngine = hcontainer.ErrNoEngine

// SetupHint is what to do when ErrNoEngine comes back on a Linux host.
const SetupHint = hcontainer.SetupHint

const (
	// containerPort is the broker's listener inside the container.
	containerPort = "9092/tcp"
	// containerDataDir is log.dirs inside the image (created by its rootfs/).
	containerDataDir = "/data"
	// engineProbeTimeout bounds the fail-fast engine check
	// (harness/container's CheckEngine).
	engineProbeTimeout = 3 * time.Second
	// defaultContainerStart bounds image build, container start and
	// readiness; the build is a few seconds with a warm layer cache.
	defaultContainerStart = 2 * time.Minute
	// containerStopTimeout is the SIGTERM grace before the engine kills.
	containerStopTimeout = 10 * time.Second
)

// ContainerTarget runs the reference broker in a container through
// testcontainers-go: a static highwater binary in an image built FROM
// scratch (deploy/container/Dockerfile), its listener published on a host
// port of 127.0.0.1 picked up front so advertised.listeners can name it.
// No registry is needed. Each Start builds the image (the engine caches the
// layers) and Stop removes both container and image.
//
// Use *ContainerTarget: the binary and build context are prepared once, on
// the first Start, and shared by later rounds.
type ContainerTarget struct {
	// Binary is a static Linux highwater executable; when empty Start
	// builds ./cmd/highwater of the enclosing module with CGO_ENABLED=0.
	Binary string
	// Dockerfile is the image recipe; deploy/container/Dockerfile of the
	// enclosing module when empty.
	Dockerfile string
	// WorkDir holds the build context; os.TempDir() when empty.
	WorkDir string
	// Properties are extra broker properties (--override key=value);
	// listeners, advertised.listeners, log.dirs and node.id are set by
	// Start unless given here.
	Properties map[string]string
	// StartTimeout bounds build, start and readiness; 2 minutes when zero.
	StartTimeout time.Duration
	// BuildLog, when set, receives the image build's output.
	BuildLog io.Writer

	once       sync.Once
	contextDir string
	prepErr    error
}

// Name implements Target.
func (*ContainerTarget) Name() string { return "container" }

// Close removes the build context; the target can not Start afterwards.
func (t *ContainerTarget) Close() error {
	if t.contextDir == "" {
		return nil
	}
	return os.RemoveAll(t.contextDir)
}

// Start implements Target.
func (t *ContainerTarget) Start(ctx context.Context) (Instance, error) {
	if err := CheckEngine(ctx); err != nil {
		return nil, err
	}
	timeout := t.StartTimeout
	if timeout <= 0 {
		timeout = defaultContainerStart
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t.once.Do(func() { t.contextDir, t.prepErr = t.prepare(ctx) })
	if t.prepErr != nil {
		return nil, t.prepErr
	}
	hostPort, err := brokerproc.FreePort(brokerproc.DefaultHost)
	if err != nil {
		return nil, err
	}
	req := testcontainers.ContainerRequest{
		FromDockerfile: testcontainers.FromDockerfile{
			Context:        t.contextDir,
			Dockerfile:     "Dockerfile",
			BuildLogWriter: t.BuildLog,
		},
		ExposedPorts:       []string{containerPort},
		Cmd:                t.command(hostPort),
		HostConfigModifier: publishOn(hostPort),
	}
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	if err != nil {
		if c != nil {
			_ = c.Terminate(context.Background())
		}
		return nil, fmt.Errorf("bench: start container: %w (engine at %s; without a registry set TESTCONTAINERS_RYUK_DISABLED=true)", err, engineHost())
	}
	inst := &containerInstance{c: c, addr: net.JoinHostPort(brokerproc.DefaultHost, strconv.Itoa(hostPort))}
	if err := waitReady(ctx, inst.addr); err != nil {
		logs := containerLogs(c)
		_ = inst.Stop()
		return nil, fmt.Errorf("bench: container broker at %s not ready: %w\n%s", inst.addr, err, logs)
	}
	if st, err := c.Inspect(ctx); err == nil && st.State != nil {
		inst.pid = st.State.Pid
	}
	return inst, nil
}

// command is the broker's argument list after the image's entrypoint
// (`highwater broker`).
func (t *ContainerTarget) command(hostPort int) []string {
	props := map[string]string{
		"node.id":              "1",
		"listeners":            "PLAINTEXT://0.0.0.0:9092",
		"advertised.listeners": "PLAINTEXT://" + net.JoinHostPort(brokerproc.DefaultHost, strconv.Itoa(hostPort)),
		"log.dirs":             containerDataDir,
	}
	for k, v := range t.Properties {
		props[k] = v
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	args := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, "--override", k+"="+props[k])
	}
	return args
}

// publishOn binds the container's listener to 127.0.0.1:hostPort only, so
// the broker is not reachable from other hosts.
func publishOn(hostPort int) func(*container.HostConfig) {
	return func(hc *container.HostConfig) {
		hc.PortBindings = network.PortMap{
			network.MustParsePort(containerPort): {{
				HostIP:   netip.MustParseAddr(brokerproc.DefaultHost),
				HostPort: strconv.Itoa(hostPort),
			}},
		}
	}
}

// prepare fills a fresh build context (Dockerfile, the static binary,
// rootfs/) the way harness/container's cluster driver does.
func (t *ContainerTarget) prepare(ctx context.Context) (string, error) {
	dir, err := hcontainer.PrepareBuildContext(ctx, hcontainer.BuildContext{
		Binary: t.Binary, Dockerfile: t.Dockerfile, WorkDir: t.WorkDir})
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	return dir, nil
}

// waitReady polls addr with ApiVersions until it answers: the engine's
// port forward accepts connections before the broker listens.
func waitReady(ctx context.Context, addr string) error {
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := brokerproc.Probe(pctx, addr)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last probe: %w)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func containerLogs(c testcontainers.Container) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.Logs(ctx)
	if err != nil {
		return ""
	}
	defer r.Close()
	b, _ := io.ReadAll(io.LimitReader(r, 16<<10))
	return strings.TrimSpace(string(b))
}

type containerInstance struct {
	c    testcontainers.Container
	addr string
	pid  int
}

func (ci *containerInstance) Bootstrap() string { return ci.addr }

// PID is the broker's host pid as the engine reports it: /proc on this
// host shows it when the engine runs containers here as root (podman
// rootful, Docker); 0 when unknown.
func (ci *containerInstance) PID() int       { return ci.pid }
func (ci *containerInstance) NodeCount() int { return 1 }

// Stop stops and removes the container and its image (its data goes with
// it: log.dirs is inside the container).
func (ci *containerInstance) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), containerStopTimeout+30*time.Second)
	defer cancel()
	if err := ci.c.Terminate(ctx, testcontainers.StopTimeout(containerStopTimeout)); err != nil {
		return fmt.Errorf("bench: stop container: %w", err)
	}
	return nil
}

// CheckEngine fails fast, with ErrNoEngine and SetupHint, when the Docker
// API testcontainers-go would use does not answer a ping.
func CheckEngine(ctx context.Context) error { return hcontainer.CheckEngine(ctx) }

// engineHost is where testcontainers-go's Docker client connects.
func engineHost() string { return hcontainer.EngineHost() }
