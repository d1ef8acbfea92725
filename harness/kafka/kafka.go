package kafka

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/internal/portpick"
	"github.com/highwater-io/highwater/harness/netns"
	"github.com/highwater-io/highwater/internal/brokerproc"
)

// Start-up errors.
var (
	// ErrExited means a node's JVM exited (or logged a fatal error) while
	// the driver waited for it.
	ErrExited = errors.New("kafka: node exited during start")
	// ErrNotReady means the cluster or a node did not become ready within
	// ReadyTimeout.
	ErrNotReady = errors.New("kafka: not ready")
)

const (
	loopback     = "127.0.0.1"
	pollInterval = 250 * time.Millisecond
	// logTailBytes bounds how much of a node's log is scanned and quoted.
	logTailBytes = 64 << 10
	quoteLines   = 25
	// formatTimeout bounds one StorageTool run (a JVM start and a few
	// file writes: seconds).
	formatTimeout = 2 * time.Minute
)

// fatalMarkers are log lines after which a starting Kafka will not become
// ready, though the JVM may linger for a minute before exiting.
var fatalMarkers = []string{"Fatal error during", "Exiting Kafka", "Address already in use", "ConfigException"}

// Cluster is a running Apache Kafka cluster; it implements cluster.Cluster
// and cluster.NetworkProvider.
type Cluster struct {
	cfg   Config
	java  string
	lib   string
	nodes []*node
	net   *netns.Net // nil unless cfg.NetNS
	admin *kgo.Client

	mu     sync.Mutex
	closed bool
}

var (
	_ cluster.Cluster         = (*Cluster)(nil)
	_ cluster.NetworkProvider = (*Cluster)(nil)
)

// node is one broker+controller identity.
type node struct {
	id      int32
	rack    string
	addr    nodeAddr
	dir     string
	logPath string
	argv    []string

	opMu sync.Mutex // serializes faults on this node
	proc
}

// New formats, starts and waits for a cluster as described by cfg. On
// failure everything it started or created is removed again.
func New(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("%w: dir: %w", ErrBadConfig, err)
	}
	cfg.Dir = dir
	java, err := findJava(cfg.Java)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, java: java}
	if cfg.NetNS {
		if err := netns.Available(); err != nil {
			return nil, err
		}
	}
	if c.lib, err = findLib(ctx, cfg.Lib); err != nil {
		return nil, err
	}
	if err := c.setup(ctx); err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = c.Close(closeCtx)
		return nil, err
	}
	return c, nil
}

// setup does New's work after the environment checks; New cleans up after
// it on failure.
func (c *Cluster) setup(ctx context.Context) error {
	addrs, err := c.addresses(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("kafka: cluster dir: %w", err)
	}
	clusterID, err := c.clusterID()
	if err != nil {
		return err
	}
	for i := range addrs {
		id := int32(i + 1)
		n, err := c.newNode(id, addrs)
		if err != nil {
			return err
		}
		c.nodes = append(c.nodes, n)
	}
	if err := c.formatAll(ctx, clusterID); err != nil {
		return err
	}
	seeds := make([]string, len(addrs))
	for i, a := range addrs {
		seeds[i] = a.client()
	}
	c.admin, err = kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RetryTimeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("kafka: admin client: %w", err)
	}
	for _, n := range c.nodes {
		if err := n.start(n.argv, n.dir, n.logPath); err != nil {
			return err
		}
	}
	readyCtx, cancel := context.WithTimeout(ctx, c.cfg.ReadyTimeout)
	defer cancel()
	return c.waitClusterReady(readyCtx)
}

// addresses picks each node's host and ports (and builds the namespaces in
// NetNS mode).
func (c *Cluster) addresses(ctx context.Context) ([]nodeAddr, error) {
	n := c.cfg.Nodes
	addrs := make([]nodeAddr, n)
	if c.cfg.NetNS {
		base := c.cfg.BasePort
		if base == 0 {
			base = 9092
		}
		var err error
		if c.net, err = netns.New(ctx, n); err != nil {
			return nil, err
		}
		for i := range addrs {
			addrs[i] = nodeAddr{host: c.net.NodeIP(i + 1), clientPort: base, controller: base + 1}
		}
		return addrs, nil
	}
	if c.cfg.BasePort != 0 {
		for i := range addrs {
			p := c.cfg.BasePort + 2*i
			addrs[i] = nodeAddr{host: loopback, clientPort: p, controller: p + 1}
		}
		return addrs, checkPortsFree(addrs)
	}
	ports, err := portpick.Free(loopback, 2*n)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	for i := range addrs {
		addrs[i] = nodeAddr{host: loopback, clientPort: ports[2*i], controller: ports[2*i+1]}
	}
	return addrs, nil
}

// clusterID reuses Dir/cluster.id (a restarted harness over the same
// directory keeps its data) or makes and records a new one.
func (c *Cluster) clusterID() (string, error) {
	path := filepath.Join(c.cfg.Dir, "cluster.id")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) == 22 {
		return strings.TrimSpace(string(b)), nil
	}
	var id string
	for {
		var raw [16]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return "", fmt.Errorf("kafka: cluster id: %w", err)
		}
		// Kafka's Uuid string form; one starting with '-' would read as a
		// flag on the StorageTool's command line.
		if id = base64.RawURLEncoding.EncodeToString(raw[:]); id[0] != '-' {
			break
		}
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("kafka: cluster id: %w", err)
	}
	return id, nil
}

func (c *Cluster) newNode(id int32, addrs []nodeAddr) (*node, error) {
	dir := filepath.Join(c.cfg.Dir, "node-"+strconv.Itoa(int(id)))
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, fmt.Errorf("kafka: node dir: %w", err)
	}
	props := c.cfg.properties(id, addrs, filepath.Join(dir, "data"))
	if err := os.WriteFile(filepath.Join(dir, "server.properties"), brokerproc.FormatProperties(props), 0o644); err != nil {
		return nil, fmt.Errorf("kafka: write properties: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log4j2.properties"), []byte(log4j2Config), 0o644); err != nil {
		return nil, fmt.Errorf("kafka: write log4j2 config: %w", err)
	}
	n := &node{
		id: id, rack: props["broker.rack"], addr: addrs[id-1], dir: dir,
		logPath: filepath.Join(dir, "server.log"),
	}
	n.argv = append(c.nsPrefix(id), c.jvmArgs(dir)...)
	n.argv = append(n.argv, "kafka.Kafka", filepath.Join(dir, "server.properties"))
	return n, nil
}

// nsPrefix is the command prefix that runs a program in node id's
// namespace (nothing outside NetNS mode). `ip netns exec` execs the
// program, so the pid, process group and Pdeathsig carry over.
func (c *Cluster) nsPrefix(id int32) []string {
	if c.net == nil {
		return nil
	}
	return c.net.Exec(int(id))
}

// jvmArgs sizes the JVM for a 2-core machine shared by several nodes.
func (c *Cluster) jvmArgs(dir string) []string {
	return []string{
		c.java,
		"-Xmx" + strconv.Itoa(c.cfg.HeapMB) + "m", "-Xms128m",
		"-XX:+UseG1GC", "-XX:ParallelGCThreads=1", "-XX:ConcGCThreads=1", "-XX:CICompilerCount=2",
		"-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + filepath.Join(dir, "log4j2.properties"),
		"-Dkafka.logs.dir=" + dir,
		"-cp", filepath.Join(c.lib, "*"),
	}
}

// formatAll runs the StorageTool for every node whose data dir is not
// formatted yet, in parallel (each is a JVM start).
func (c *Cluster) formatAll(ctx context.Context, clusterID string) error {
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		if _, err := os.Stat(filepath.Join(n.dir, "data", "meta.properties")); err == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.format(ctx, n, clusterID)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Cluster) format(ctx context.Context, n *node, clusterID string) error {
	fctx, cancel := context.WithTimeout(ctx, formatTimeout)
	defer cancel()
	args := []string{c.java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-Dlog4j2.level=WARN",
		"-cp", filepath.Join(c.lib, "*"), "kafka.tools.StorageTool", "format",
		"--config", filepath.Join(n.dir, "server.properties"),
		"--cluster-id", clusterID, "--ignore-formatted"}
	cmd := exec.CommandContext(fctx, args[0], args[1:]...)
	cmd.SysProcAttr = sysProcAttr()
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(n.dir, "format.log"), out, 0o644)
	if err != nil {
		return fmt.Errorf("kafka: format node %d: %w: %s (fix: check the --set values; full output in %s)",
			n.id, err, causeLines(string(out), 6), filepath.Join(n.dir, "format.log"))
	}
	return nil
}

// log4j2Config sends Kafka's log to stdout (captured in server.log) at INFO,
// with the chatty client loggers at WARN.
const log4j2Config = `status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
`
