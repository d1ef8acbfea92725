package reference

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/internal/await"
	"github.com/highwater-io/highwater/harness/internal/portpick"
	"github.com/highwater-io/highwater/harness/netns"
	"github.com/highwater-io/highwater/internal/brokerproc"
)

// DefaultRacks are cycled over the nodes when Config.Racks is empty.
var DefaultRacks = []string{"az-a", "az-b", "az-c"}

// host is where every listener binds.
const host = "127.0.0.1"

// portsPerNode: client, controller and metrics listeners.
const portsPerNode = 3

// defaultSessionTimeout is the broker's broker.session.timeout.ms default;
// Stop waits a little longer, since controlled shutdown may take that long
// once the quorum is gone.
const defaultSessionTimeout = 9 * time.Second

// pollInterval paces readiness polling.
const pollInterval = 100 * time.Millisecond

// ErrNotReady means the cluster (or a restarted node) did not become ready
// within Config.ReadyTimeout.
var ErrNotReady = errors.New("reference: not ready")

// Config describes the reference cluster.
type Config struct {
	// Nodes is the node count; 0 means 1. One node runs the broker in
	// single-node mode; more run cluster mode (combined broker+controller).
	Nodes int
	// Binary is the highwater executable; empty means this process's own
	// executable (the CLI).
	Binary string
	Dir    string
	// BasePort, when non-zero, fixes node i's ports: client
	// BasePort+3(i-1), controller one above, metrics two above. 0 picks
	// free ports once, up front, kept across restarts.
	BasePort int
	// Racks are assigned round-robin (broker.rack); DefaultRacks when empty.
	Racks []string
	// Set overrides any broker property on every node of this cluster
	// (applied after the driver's defaults): unsafe settings, planted bugs
	// (highwater.planted.bug), fault seams (highwater.fault.page.cache,
	// highwater.fault.endpoints).
	Set map[string]string
	// NodeSet overrides properties on single nodes, by node id, applied
	// after Set (one node with a planted bug, say).
	NodeSet map[int32]map[string]string
	// NetNS runs every node in its own network namespace (root only; see
	// harness/netns): node i listens on its own address 10.213.x.(10+i),
	// ports BasePort (9092 when zero) and the two above, and Network cuts
	// real traffic between nodes. Without it Network is unavailable.
	NetNS bool
	// Proxy puts a harness/proxy in front of every node's client listener
	// (advertised.listeners names it, so clients and replica fetchers
	// reach the node through it) and of every controller link (each node's
	// controller.quorum.voters names a proxy per peer), so Links (slow,
	// lossy) work without root. Not with NetNS.
	Proxy bool
	// Seed drives the proxies' delays and drops.
	Seed int64
	// ReadyTimeout bounds each start (the whole cluster in New, one node in
	// Start/Restart); brokerproc's default when zero.
	ReadyTimeout time.Duration
}

// node is one broker identity.
type node struct {
	id                 int32
	rack               string
	host               string // listener address
	advertised         string // client address clients use: client, or its proxy
	client, ctrl, metr string // host:port
	proc               *brokerproc.Node
	log                *os.File
	logPath            string
	binary             string      // what brokerproc runs
	direct             *kgo.Client // seeded with this node only (also in Cluster.directs)
	// mu serialises process operations on this node.
	mu sync.Mutex
}

// Cluster is a local reference cluster of Nodes broker processes.
type Cluster struct {
	cfg   Config
	nodes []*node // index id-1
	admin *kgo.Client
	// directs reach each node alone (index id-1), for the Metadata
	// queries that must not depend on the cluster's view of a node.
	directs []cluster.Direct
	net     *netns.Net // nil unless cfg.NetNS
	// proxies is nil unless cfg.Proxy; faults (faults.go) holds the
	// link degradations and the clock seam's availability.
	proxies *proxies
	faults  faultState

	closeMu sync.Mutex
	closed  bool
}

var (
	_ cluster.Cluster         = (*Cluster)(nil)
	_ cluster.NetworkProvider = (*Cluster)(nil)
)

// New starts every node and waits until the cluster is ready: every node
// answers, and Metadata lists every node as an unfenced broker and names
// a controller. On failure nothing is left running.
func New(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg}
	hosts, ports, err := c.addresses(ctx)
	if err != nil {
		return nil, err
	}
	for i := range cfg.Nodes {
		p := ports[i*portsPerNode:]
		n := &node{id: int32(i + 1), rack: cfg.Racks[i%len(cfg.Racks)], host: hosts[i],
			client: hostPort(hosts[i], p[0]), ctrl: hostPort(hosts[i], p[1]), metr: hostPort(hosts[i], p[2])}
		if cfg.Nodes == 1 {
			n.ctrl = "" // single-node mode has no controller listener
		}
		n.advertised = n.client
		c.nodes = append(c.nodes, n)
	}
	if cfg.Proxy {
		if c.proxies, err = newProxies(c.nodes, cfg.Seed); err != nil {
			_ = c.Close(context.Background())
			return nil, err
		}
	}
	c.faults.init(c)
	if err := c.start(ctx); err != nil {
		_ = c.Close(context.Background())
		return nil, err
	}
	return c, nil
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = 1
	}
	if cfg.Nodes < 0 {
		return cfg, fmt.Errorf("reference: %d nodes", cfg.Nodes)
	}
	if cfg.Dir == "" {
		return cfg, errors.New("reference: Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return cfg, fmt.Errorf("reference: %w", err)
	}
	cfg.Dir = dir
	if cfg.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return cfg, fmt.Errorf("reference: own executable: %w", err)
		}
		cfg.Binary = exe
	}
	if len(cfg.Racks) == 0 {
		cfg.Racks = DefaultRacks
	}
	for id := range cfg.NodeSet {
		if id < 1 || int(id) > cfg.Nodes {
			return cfg, fmt.Errorf("reference: NodeSet names node %d (nodes are 1..%d)", id, cfg.Nodes)
		}
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = brokerproc.DefaultReadyTimeout
	}
	if cfg.NetNS && cfg.Proxy {
		return cfg, errors.New("reference: NetNS and Proxy are exclusive (proxied traffic would bypass the namespaces' cuts)")
	}
	if cfg.NetNS && cfg.Nodes > netns.MaxNodes {
		return cfg, fmt.Errorf("reference: %d nodes in NetNS mode (at most %d)", cfg.Nodes, netns.MaxNodes)
	}
	if cfg.BasePort < 0 || cfg.BasePort+cfg.Nodes*portsPerNode > 65536 {
		return cfg, fmt.Errorf("reference: base port %d does not leave room for %d nodes", cfg.BasePort, cfg.Nodes)
	}
	return cfg, nil
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// netnsBasePort is every node's client port in NetNS mode (each node has
// its own address) when Config.BasePort is zero.
const netnsBasePort = 9092

// addresses returns each node's listener host and the ports, node i's at
// [portsPerNode*(i-1), portsPerNode*i), building the namespaces in NetNS
// mode.
func (c *Cluster) addresses(ctx context.Context) (hosts []string, ports []int, err error) {
	if !c.cfg.NetNS {
		if ports, err = portpick.Pick(host, c.cfg.BasePort, c.cfg.Nodes*portsPerNode); err != nil {
			return nil, nil, fmt.Errorf("reference: %w", err)
		}
		for range c.cfg.Nodes {
			hosts = append(hosts, host)
		}
		return hosts, ports, nil
	}
	if c.net, err = netns.New(ctx, c.cfg.Nodes); err != nil {
		return nil, nil, fmt.Errorf("reference: %w", err)
	}
	base := c.cfg.BasePort
	if base == 0 {
		base = netnsBasePort
	}
	for i := range c.cfg.Nodes {
		hosts = append(hosts, c.net.NodeIP(i+1))
		ports = append(ports, base, base+1, base+2)
	}
	return hosts, ports, nil
}

// binary is the executable brokerproc runs for n: the configured binary,
// or in NetNS mode a script beside the node's data that execs it inside
// the node's namespace (`ip netns exec` execs too, so brokerproc's pid,
// process group and Pdeathsig apply to the broker itself).
func (c *Cluster) binary(n *node) (string, error) {
	if c.net == nil {
		return c.cfg.Binary, nil
	}
	argv := append(c.net.Exec(int(n.id)), c.cfg.Binary)
	for i, a := range argv {
		argv[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	path := filepath.Join(c.dir(n), "in-netns.sh")
	script := "#!/bin/sh\nexec " + strings.Join(argv, " ") + ` "$@"` + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return "", fmt.Errorf("reference: %w", err)
	}
	return path, nil
}

// properties are node n's broker properties: defaults, then Set, then
// NodeSet[n.id].
func (c *Cluster) properties(n *node) map[string]string {
	p := map[string]string{
		"node.id":                    strconv.Itoa(int(n.id)),
		"broker.rack":                n.rack,
		"log.dirs":                   filepath.Join(c.dir(n), "data"),
		"highwater.metrics.listener": n.metr,
	}
	// Fault endpoints on the metrics listener (clock skew) are on unless
	// Set turns them off: the harness owns these brokers.
	p[faultEndpointsKey] = "true"
	if len(c.nodes) == 1 {
		p["listeners"] = "PLAINTEXT://" + n.client
		p["advertised.listeners"] = "PLAINTEXT://" + n.advertised
	} else {
		var voters []string
		for _, o := range c.nodes {
			voters = append(voters, fmt.Sprintf("%d@%s", o.id, c.voterAddr(n, o)))
		}
		p["process.roles"] = "broker,controller"
		p["controller.quorum.voters"] = strings.Join(voters, ",")
		p["listeners"] = "PLAINTEXT://" + n.client + ",CONTROLLER://" + n.ctrl
		p["advertised.listeners"] = "PLAINTEXT://" + n.advertised
		p["controller.listener.names"] = "CONTROLLER"
		p["default.replication.factor"] = strconv.Itoa(min(3, len(c.nodes)))
		p["min.insync.replicas"] = strconv.Itoa(min(2, len(c.nodes)))
	}
	for k, v := range c.cfg.Set {
		p[k] = v
	}
	for k, v := range c.cfg.NodeSet[n.id] {
		p[k] = v
	}
	return p
}

func (c *Cluster) dir(n *node) string { return filepath.Join(c.cfg.Dir, fmt.Sprintf("node-%d", n.id)) }

// stopTimeout bounds a graceful stop: a node's controlled shutdown waits
// up to broker.session.timeout.ms when the quorum is gone.
func (c *Cluster) stopTimeout() time.Duration {
	d := defaultSessionTimeout
	if ms, err := strconv.Atoi(strings.TrimSpace(c.cfg.Set["broker.session.timeout.ms"])); err == nil && ms > 0 {
		d = time.Duration(ms) * time.Millisecond
	}
	return d + 5*time.Second
}

// start launches every node concurrently (a cluster-mode node serves its
// client listener before the quorum forms, so each start returns on its
// own) and waits for the cluster.
func (c *Cluster) start(ctx context.Context) error {
	var addrs []string
	for _, n := range c.nodes {
		addrs = append(addrs, n.client)
		if err := os.MkdirAll(c.dir(n), 0o755); err != nil {
			return fmt.Errorf("reference: %w", err)
		}
		n.logPath = filepath.Join(c.dir(n), "server.log")
		f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("reference: %w", err)
		}
		n.log = f
		if n.direct, err = kgo.NewClient(kgo.SeedBrokers(n.client)); err != nil {
			return fmt.Errorf("reference: %w", err)
		}
		c.directs = append(c.directs, cluster.Direct{ID: n.id, Client: n.direct})
		if n.binary, err = c.binary(n); err != nil {
			return err
		}
	}
	var err error
	if c.admin, err = kgo.NewClient(kgo.SeedBrokers(addrs...)); err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			port, _ := strconv.Atoi(n.client[strings.LastIndexByte(n.client, ':')+1:])
			proc, err := brokerproc.Start(ctx, brokerproc.Options{
				Binary: n.binary, DataDir: c.dir(n), Host: n.host, Port: port,
				Properties: c.properties(n), Stderr: n.log,
				ReadyTimeout: c.cfg.ReadyTimeout, StopTimeout: c.stopTimeout(),
			})
			if err != nil {
				errs[i] = fmt.Errorf("node %d: %w", n.id, err)
				return
			}
			n.proc = proc
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.ReadyTimeout)
	defer cancel()
	if err := c.poll(rctx, "cluster", c.clusterReady); err != nil {
		return err
	}
	c.faults.probeClock(ctx, c)
	return nil
}

// poll runs ready until it succeeds, a node process exits, or ctx ends.
func (c *Cluster) poll(ctx context.Context, what string, ready func(context.Context) error) error {
	return await.Until(ctx, await.Options{
		Interval: pollInterval,
		Attempt:  cluster.PerNodeTimeout,
		Fatal:    func(context.Context) error { return c.exited() },
		TimedOut: func(last error) error {
			return fmt.Errorf("%w: %s after %v: %v (the nodes' server.log under %s say what they wait for)",
				ErrNotReady, what, c.cfg.ReadyTimeout, last, c.cfg.Dir)
		},
	}, ready)
}

// exited names a node whose process has exited: waiting cannot help.
func (c *Cluster) exited() error {
	for _, n := range c.nodes {
		if n.proc != nil && n.proc.ExitErr() != nil {
			return fmt.Errorf("%w: node %d exited: %v (see %s); last output:\n%s",
				ErrNotReady, n.id, n.proc.ExitErr(), n.logPath, n.proc.StderrTail(20))
		}
	}
	return nil
}

// clusterReady: Metadata lists every node unfenced and names a controller.
func (c *Cluster) clusterReady(ctx context.Context) error {
	return cluster.AnySees(ctx, c.directs, cluster.IDs(c.directs))
}
