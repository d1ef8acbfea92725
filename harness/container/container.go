package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	mcontainer "github.com/moby/moby/api/types/container"
	mnetwork "github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/internal/await"
	"github.com/highwater-io/highwater/harness/internal/faultclient"
	"github.com/highwater-io/highwater/harness/internal/portpick"
)

// DefaultRacks are cycled over the nodes when Config.Racks is empty.
var DefaultRacks = []string{"az-a", "az-b", "az-c"}

// LabelKey is the label set on every container and network a Cluster
// creates; its value is Cluster.RunID, so `podman ps -a --filter
// label=io.highwater.cluster=<id>` finds what one cluster left behind.
const LabelKey = "io.highwater.cluster"

// Listener ports inside every container on the bridge network (each
// container has its own address, so every node uses the same ports), and
// their indexes in node.ports.
const (
	clientPort     = 9092
	controllerPort = 9093
	metricsPort    = 9094
	clientPortSpec = "9092/tcp"

	clientIdx, controllerIdx, metricsIdx = 0, 1, 2

	// loopback is where host-network listeners bind and where the client
	// port is published on the bridge network.
	loopback = "127.0.0.1"
	// dataDir is log.dirs inside the image; the node's host directory is
	// bind-mounted there so Restart keeps the data.
	dataDir = "/data"
)

const (
	defaultNodes        = 3
	defaultReadyTimeout = 2 * time.Minute
	// defaultSessionTimeout is the broker's broker.session.timeout.ms
	// default; controlled shutdown may wait that long without a quorum.
	defaultSessionTimeout = 9 * time.Second
	pollInterval          = 200 * time.Millisecond
	// cleanupTimeout bounds Close's engine calls when its ctx is done.
	cleanupTimeout = time.Minute
	// subnetTries is how many random subnets New tries before giving up
	// (another network may hold one).
	subnetTries = 5
)

// ErrNotReady means the cluster (or a restarted node) did not become ready
// within Config.ReadyTimeout.
var ErrNotReady = errors.New("container: not ready")

// Config describes a reference cluster in containers.
type Config struct {
	// Nodes is the node count; 0 means 3. Every node runs combined mode
	// (process.roles=broker,controller), even a single one.
	Nodes int
	// Dir holds each node's data (Dir/node-<id>/data, bind-mounted at
	// /data), its saved container log (Dir/node-<id>/server.log) and the
	// temporary image build context. Required.
	Dir string
	// Image runs an existing image (its entrypoint `highwater broker`)
	// instead of building one; Close leaves it alone.
	Image string
	// Build says how to make the image when Image is empty: a static
	// binary (built from ./cmd/highwater when Build.Binary is empty) and
	// deploy/container/Dockerfile. WorkDir defaults to Dir.
	Build BuildContext
	// BuildLog, when set, receives the image build's output.
	BuildLog io.Writer
	// Racks are assigned round-robin (broker.rack); DefaultRacks when empty.
	Racks []string
	// Set overrides any broker property on every node (after the driver's
	// defaults); NodeSet on single nodes, by id, after Set.
	Set     map[string]string
	NodeSet map[int32]map[string]string
	// Subnet is the cluster network's IPv4 /24 (node i is .10+i); zero
	// picks a random one in 10.232.0.0/16.
	Subnet netip.Prefix
	// HostNetwork runs every container in the host's network namespace
	// (--network host), each node on its own 127.0.0.1 ports (from
	// BasePort, else picked free): for engines whose bridge addresses the
	// harness cannot reach (rootless engines, a VM-backed Docker). Network
	// and lossy links are unavailable then: there is no per-node
	// namespace to cut in.
	HostNetwork bool
	// BasePort fixes node i's host-network ports: client BasePort+3(i-1),
	// controller one above, metrics two above.
	BasePort int
	// ReadyTimeout bounds New's image build plus cluster start, and each
	// Start/Restart; 2 minutes when zero.
	ReadyTimeout time.Duration
	// StopTimeout is the SIGTERM grace of Stop/Restart before the engine
	// sends SIGKILL; broker.session.timeout.ms (9 s default) + 5 s when
	// zero.
	StopTimeout time.Duration
}

// node is one broker container.
type node struct {
	id       int32
	rack     string
	ip       netip.Addr // on the cluster network; zero in host-network mode
	host     string     // the address the harness and peers use
	bind     string     // the listeners' bind address
	ports    [3]int     // client, controller, metrics
	hostname string
	dir      string // host directory: data/ and server.log
	logPath  string
	ctr      testcontainers.Container
	direct   *kgo.Client // seeded with this node only (also in Cluster.directs)
	// mu serialises container operations on this node.
	mu sync.Mutex
}

// listener is "host:port" of n's listener on port index i (client,
// controller, metrics) as bound inside the container.
func (n *node) listener(i int) string { return net.JoinHostPort(n.bind, strconv.Itoa(n.ports[i])) }

// addr is n's address for port index i as the harness and peers reach it.
func (n *node) addr(i int) string { return net.JoinHostPort(n.host, strconv.Itoa(n.ports[i])) }

// Cluster is a reference cluster of Nodes broker containers on their own
// bridge network.
type Cluster struct {
	cfg      Config
	runID    string
	nodes    []*node // index id-1
	api      *testcontainers.DockerClient
	image    string
	ownImage bool
	network  *testcontainers.DockerNetwork
	admin    *kgo.Client
	// directs reach each node alone (index id-1), for the Metadata
	// queries that must not depend on the cluster's view of a node.
	directs []cluster.Direct
	cuts    cutState
	clocks  faultclient.Clock

	closeMu sync.Mutex
	closed  bool
}

var (
	_ cluster.Cluster         = (*Cluster)(nil)
	_ cluster.NetworkProvider = (*Cluster)(nil)
)

// New builds the image (unless Config.Image names one), creates the
// network and one container per node, and waits until a node's Metadata
// lists every node as a live broker and names a controller. On failure
// everything it made is removed again.
func New(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := CheckEngine(ctx); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, runID: newRunID()}
	if c.api, err = testcontainers.NewDockerClientWithOpts(ctx); err != nil {
		return nil, fmt.Errorf("%w at %s: %w; %s", ErrNoEngine, EngineHost(), err, SetupHint)
	}
	rctx, cancel := context.WithTimeout(ctx, cfg.ReadyTimeout)
	defer cancel()
	if err := c.setup(rctx); err != nil {
		_ = c.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return c, nil
}

func (c *Cluster) setup(ctx context.Context) error {
	if err := c.prepareImage(ctx); err != nil {
		return err
	}
	if err := c.placeNodes(ctx); err != nil {
		return err
	}
	if err := c.prepareNodes(func(*node, string) error { return nil }); err != nil {
		return err
	}
	c.initClocks()
	if err := c.createNodes(ctx, c.createNode); err != nil {
		return err
	}
	if err := c.poll(ctx, "cluster", c.clusterReady); err != nil {
		return err
	}
	c.probeClocks(ctx)
	return nil
}

// prepareNodes makes every node's host directories (data/ for the bind
// mount, server.log beside it; prepare adds what a flavor needs, given
// the data directory), its direct client and the cluster's admin client,
// and the cut bookkeeping.
func (c *Cluster) prepareNodes(prepare func(n *node, data string) error) error {
	var addrs []string
	var err error
	for _, n := range c.nodes {
		n.logPath = filepath.Join(n.dir, "server.log")
		data := filepath.Join(n.dir, "data")
		if err := os.MkdirAll(data, 0o755); err != nil {
			return fmt.Errorf("container: %w", err)
		}
		if err := prepare(n, data); err != nil {
			return fmt.Errorf("container: %w", err)
		}
		if n.direct, err = kgo.NewClient(kgo.SeedBrokers(n.addr(clientIdx))); err != nil {
			return fmt.Errorf("container: %w", err)
		}
		c.directs = append(c.directs, cluster.Direct{ID: n.id, Client: n.direct})
		addrs = append(addrs, n.addr(clientIdx))
	}
	if c.admin, err = kgo.NewClient(kgo.SeedBrokers(addrs...)); err != nil {
		return fmt.Errorf("container: %w", err)
	}
	c.cuts.init(c)
	return nil
}

// createNodes runs create for every node concurrently (image pulls and
// JVM starts overlap) and joins the failures, each naming its node.
func (c *Cluster) createNodes(ctx context.Context, create func(context.Context, *node) error) error {
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = create(ctx, n); errs[i] != nil {
				errs[i] = fmt.Errorf("node %d: %w", n.id, errs[i])
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// placeNodes gives every node its addresses: on the bridge network its own
// address (.10+id of a fresh /24) and the fixed ports; in host-network
// mode 127.0.0.1 and three ports per node from Config.BasePort or picked
// free up front (kept across restarts).
func (c *Cluster) placeNodes(ctx context.Context) error {
	var ports []int
	var subnet netip.Prefix
	var err error
	if c.cfg.HostNetwork {
		if ports, err = portpick.Pick(loopback, c.cfg.BasePort, 3*c.cfg.Nodes); err != nil {
			return fmt.Errorf("container: %w", err)
		}
	} else if subnet, err = c.createNetwork(ctx); err != nil {
		return err
	}
	for i := range c.cfg.Nodes {
		n := &node{id: int32(i + 1), rack: c.cfg.Racks[i%len(c.cfg.Racks)],
			hostname: fmt.Sprintf("node-%d", i+1),
			dir:      filepath.Join(c.cfg.Dir, fmt.Sprintf("node-%d", i+1))}
		if c.cfg.HostNetwork {
			n.host, n.bind = loopback, loopback
			copy(n.ports[:], ports[3*i:])
		} else {
			n.ip = netip.AddrFrom4(withLast(subnet.Addr().As4(), byte(10+i+1)))
			n.host, n.bind = n.ip.String(), "0.0.0.0"
			n.ports = [3]int{clientPort, controllerPort, metricsPort}
		}
		c.nodes = append(c.nodes, n)
	}
	return nil
}

func withLast(a [4]byte, last byte) [4]byte { a[3] = last; return a }

func newRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = defaultNodes
	}
	if cfg.Nodes < 0 || cfg.Nodes > 200 {
		return cfg, fmt.Errorf("container: %d nodes (1..200)", cfg.Nodes)
	}
	if cfg.Dir == "" {
		return cfg, errors.New("container: Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return cfg, fmt.Errorf("container: %w", err)
	}
	cfg.Dir = dir
	if cfg.Build.WorkDir == "" {
		cfg.Build.WorkDir = dir
	}
	if len(cfg.Racks) == 0 {
		cfg.Racks = DefaultRacks
	}
	for id := range cfg.NodeSet {
		if id < 1 || int(id) > cfg.Nodes {
			return cfg, fmt.Errorf("container: NodeSet names node %d (nodes are 1..%d)", id, cfg.Nodes)
		}
	}
	if cfg.Subnet.IsValid() && (!cfg.Subnet.Addr().Is4() || cfg.Subnet.Bits() != 24) {
		return cfg, fmt.Errorf("container: subnet %s is not an IPv4 /24", cfg.Subnet)
	}
	if cfg.BasePort < 0 || cfg.BasePort+3*cfg.Nodes > 65536 {
		return cfg, fmt.Errorf("container: base port %d does not leave room for %d nodes", cfg.BasePort, cfg.Nodes)
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = defaultReadyTimeout
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = defaultSessionTimeout + 5*time.Second
		if ms, err := strconv.Atoi(strings.TrimSpace(cfg.Set["broker.session.timeout.ms"])); err == nil && ms > 0 {
			cfg.StopTimeout = time.Duration(ms)*time.Millisecond + 5*time.Second
		}
	}
	return cfg, nil
}

// prepareImage builds the broker image once for all nodes.
func (c *Cluster) prepareImage(ctx context.Context) error {
	if c.cfg.Image != "" {
		c.image = c.cfg.Image
		return nil
	}
	if err := os.MkdirAll(c.cfg.Build.WorkDir, 0o755); err != nil {
		return fmt.Errorf("container: %w", err)
	}
	dir, err := PrepareBuildContext(ctx, c.cfg.Build)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	repo, tag := imageRepo, c.runID
	if err := buildImage(ctx, dir, repo, tag, c.cfg.BuildLog); err != nil {
		return err
	}
	c.image, c.ownImage = repo+":"+tag, true
	return nil
}

// createNetwork makes the cluster's bridge network with a fixed /24 so
// every node's address is known before its container starts (its
// advertised listener names it).
func (c *Cluster) createNetwork(ctx context.Context) (netip.Prefix, error) {
	var errs []error
	for try := range subnetTries {
		subnet := c.cfg.Subnet
		if !subnet.IsValid() {
			subnet = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 232, byte(mrand.IntN(256)), 0}), 24)
		} else if try > 0 {
			break
		}
		gw := netip.AddrFrom4(withLast(subnet.Addr().As4(), 1))
		nw, err := tcnetwork.New(ctx,
			tcnetwork.WithLabels(map[string]string{LabelKey: c.runID}),
			tcnetwork.WithIPAM(&mnetwork.IPAM{Driver: "default",
				Config: []mnetwork.IPAMConfig{{Subnet: subnet, Gateway: gw}}}))
		if err == nil {
			c.network = nw
			return subnet, nil
		}
		errs = append(errs, fmt.Errorf("subnet %s: %w", subnet, err))
	}
	return netip.Prefix{}, fmt.Errorf("container: create network: %w%s", errors.Join(errs...), ryukHint())
}

// createNode creates and starts n's container.
func (c *Cluster) createNode(ctx context.Context, n *node) error {
	req := testcontainers.ContainerRequest{
		Image:  c.image,
		Name:   fmt.Sprintf("highwater-%s-node-%d", c.runID, n.id),
		Cmd:    command(c.properties(n)),
		Labels: map[string]string{LabelKey: c.runID, LabelKey + ".node": strconv.Itoa(int(n.id))},
	}
	c.place(&req, n, filepath.Join(n.dir, "data")+":"+dataDir)
	return c.run(ctx, n, req, "start container")
}

// place puts n's container on the cluster's network and bind-mounts bind
// (host:container) for its data. On the bridge network n has its own
// address and hostname; testcontainers publishes every exposed port (the
// image's EXPOSE when none is named) on every host address unless bound,
// so the client port goes to a random port of 127.0.0.1 only, and the
// harness reaches each node at its own address instead. In host-network
// mode the container shares the host's network namespace.
func (c *Cluster) place(req *testcontainers.ContainerRequest, n *node, bind string) {
	if c.cfg.HostNetwork {
		req.HostConfigModifier = func(hc *mcontainer.HostConfig) {
			hc.Binds = []string{bind}
			hc.NetworkMode = "host"
		}
		return
	}
	netName := c.network.Name
	req.ExposedPorts = []string{clientPortSpec}
	req.ConfigModifier = func(cfg *mcontainer.Config) { cfg.Hostname = n.hostname }
	req.HostConfigModifier = func(hc *mcontainer.HostConfig) {
		hc.Binds = []string{bind}
		hc.PortBindings = mnetwork.PortMap{
			mnetwork.MustParsePort(clientPortSpec): {{HostIP: netip.MustParseAddr(loopback), HostPort: "0"}},
		}
	}
	req.Networks = []string{netName}
	req.NetworkAliases = map[string][]string{netName: {n.hostname}}
	req.EndpointSettingsModifier = func(m map[string]*mnetwork.EndpointSettings) {
		es := m[netName]
		if es == nil {
			es = &mnetwork.EndpointSettings{}
			m[netName] = es
		}
		es.IPAMConfig = &mnetwork.EndpointIPAMConfig{IPv4Address: n.ip}
	}
}

// run creates and starts n's container from req; n keeps the container
// even when starting it failed, so Close removes it.
func (c *Cluster) run(ctx context.Context, n *node, req testcontainers.ContainerRequest, what string) error {
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: req, Started: true, Logger: tclog.NewNoopLogger()})
	if ctr != nil {
		n.ctr = ctr
	}
	if err != nil {
		return fmt.Errorf("%s: %w%s", what, err, ryukHint())
	}
	return nil
}

// ryukHint names the fix for testcontainers' reaper, whose image needs a
// registry, when it is not turned off.
func ryukHint() string {
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") != "" {
		return ""
	}
	return " (without a reachable registry set TESTCONTAINERS_RYUK_DISABLED=true; Close and RemoveLeftovers clean up instead)"
}

// properties are node n's broker properties: defaults, then Set, then
// NodeSet[n.id].
func (c *Cluster) properties(n *node) map[string]string {
	var voters []string
	for _, o := range c.nodes {
		voters = append(voters, fmt.Sprintf("%d@%s", o.id, o.addr(controllerIdx)))
	}
	p := map[string]string{
		"node.id":                    strconv.Itoa(int(n.id)),
		"broker.rack":                n.rack,
		"log.dirs":                   dataDir,
		"process.roles":              "broker,controller",
		"controller.quorum.voters":   strings.Join(voters, ","),
		"controller.listener.names":  "CONTROLLER",
		"listeners":                  "PLAINTEXT://" + n.listener(clientIdx) + ",CONTROLLER://" + n.listener(controllerIdx),
		"advertised.listeners":       "PLAINTEXT://" + n.addr(clientIdx),
		"default.replication.factor": strconv.Itoa(min(3, len(c.nodes))),
		"min.insync.replicas":        strconv.Itoa(min(2, len(c.nodes))),
		"highwater.metrics.listener": n.listener(metricsIdx),
		faultclient.EndpointsKey:     "true",
	}
	for k, v := range c.cfg.Set {
		p[k] = v
	}
	for k, v := range c.cfg.NodeSet[n.id] {
		p[k] = v
	}
	return p
}

// command is the broker's argument list after the image's entrypoint
// (`highwater broker`), in key order.
func command(props map[string]string) []string {
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

// poll runs ready until it succeeds or ctx ends.
func (c *Cluster) poll(ctx context.Context, what string, ready func(context.Context) error) error {
	return await.Until(ctx, await.Options{
		Interval: pollInterval,
		Attempt:  cluster.PerNodeTimeout,
		TimedOut: func(last error) error {
			hint := ""
			if !c.cfg.HostNetwork {
				hint = " (if the harness cannot reach the containers' own addresses, as with a rootless or VM-backed engine, use HostNetwork)"
			}
			return fmt.Errorf("%w: %s within %v: %v%s; container logs: %s",
				ErrNotReady, what, c.cfg.ReadyTimeout, last, hint, c.tails())
		},
	}, ready)
}

// tails is the last lines of every node's container log, for errors.
func (c *Cluster) tails() string {
	var b strings.Builder
	for _, n := range c.nodes {
		if n.ctr == nil {
			continue
		}
		fmt.Fprintf(&b, "\n--- node %d ---\n%s", n.id, lastLines(c.containerLogs(n), 10))
	}
	return b.String()
}

func lastLines(s string, k int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > k {
		lines = lines[len(lines)-k:]
	}
	return strings.Join(lines, "\n")
}

// clusterReady: some node's Metadata lists every node and names a
// controller.
func (c *Cluster) clusterReady(ctx context.Context) error {
	return cluster.AnySees(ctx, c.directs, cluster.IDs(c.directs))
}
