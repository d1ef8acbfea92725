package reference

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/internal/brokerproc"
)

// ErrNotBuilt means a replicated reference cluster was asked for.
var ErrNotBuilt = errors.New("reference: the replicated reference cluster is not built yet; use --nodes 1, or --impl kafka for a multi-node cluster")

// Config describes the reference cluster.
type Config struct {
	Nodes int // only 1 today
	// Binary is the highwater executable; empty means this process's own
	// executable (the CLI).
	Binary string
	Dir    string
	// BasePort is the client port; 0 picks a free one.
	BasePort int
	Rack     string // broker.rack, "az-a" when empty
	Set      map[string]string
	// ReadyTimeout bounds each start; brokerproc's default when zero.
	ReadyTimeout time.Duration
}

// Cluster is one reference broker.
type Cluster struct {
	node  *brokerproc.Node
	rack  string
	log   *os.File
	logP  string
	admin *kgo.Client
	mu    sync.Mutex
}

var _ cluster.Cluster = (*Cluster)(nil)

// New starts the broker and waits until it answers.
func New(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = 1
	}
	if cfg.Nodes != 1 {
		return nil, fmt.Errorf("%w (asked for %d nodes)", ErrNotBuilt, cfg.Nodes)
	}
	if cfg.Dir == "" {
		return nil, errors.New("reference: Dir is required")
	}
	if cfg.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("reference: own executable: %w", err)
		}
		cfg.Binary = exe
	}
	if cfg.Rack == "" {
		cfg.Rack = "az-a"
	}
	dir := filepath.Join(cfg.Dir, "node-1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	logPath := filepath.Join(dir, "server.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	props := map[string]string{"broker.rack": cfg.Rack}
	for k, v := range cfg.Set {
		props[k] = v
	}
	n, err := brokerproc.Start(ctx, brokerproc.Options{
		Binary: cfg.Binary, DataDir: dir, Port: cfg.BasePort, Properties: props,
		Stderr: logf, ReadyTimeout: cfg.ReadyTimeout,
	})
	if err != nil {
		logf.Close()
		return nil, err
	}
	admin, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
	if err != nil {
		_ = n.Kill()
		logf.Close()
		return nil, err
	}
	return &Cluster{node: n, rack: cfg.Rack, log: logf, logP: logPath, admin: admin}, nil
}

func (c *Cluster) id() int32 {
	id, _ := strconv.Atoi(c.node.Properties()["node.id"])
	return int32(id)
}

func (c *Cluster) check(id int32) error {
	if id != c.id() {
		return fmt.Errorf("%w: %d (the only node is %d)", cluster.ErrUnknownNode, id, c.id())
	}
	return nil
}

// Nodes lists the single node.
func (c *Cluster) Nodes() []cluster.Node {
	return []cluster.Node{{ID: c.id(), Rack: c.rack, Addr: c.node.Addr()}}
}

// Bootstrap is the broker's address.
func (c *Cluster) Bootstrap() string { return c.node.Addr() }

// Start starts the broker if it is not running.
func (c *Cluster) Start(ctx context.Context, id int32) error {
	return c.do(id, func() error {
		if c.node.Running() {
			return nil
		}
		return c.node.Restart(ctx)
	})
}

// Stop stops the broker with SIGTERM.
func (c *Cluster) Stop(_ context.Context, id int32) error { return c.do(id, c.node.Stop) }

// Kill SIGKILLs the broker.
func (c *Cluster) Kill(_ context.Context, id int32) error { return c.do(id, c.node.Kill) }

// Pause SIGSTOPs the broker.
func (c *Cluster) Pause(_ context.Context, id int32) error { return c.do(id, c.node.Pause) }

// Resume SIGCONTs the broker.
func (c *Cluster) Resume(_ context.Context, id int32) error { return c.do(id, c.node.Resume) }

// Restart restarts the broker with its data.
func (c *Cluster) Restart(ctx context.Context, id int32) error {
	return c.do(id, func() error { return c.node.Restart(ctx) })
}

func (c *Cluster) do(id int32, f func() error) error {
	if err := c.check(id); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return f()
}

// Leaders is every partition's leader from Metadata.
func (c *Cluster) Leaders(ctx context.Context) (map[cluster.TopicPartition]int32, error) {
	return cluster.MetadataLeaders(ctx, c.admin, []int32{c.id()})
}

// ActiveController: a single node controls itself; DescribeQuorum is asked
// first so a broker that serves it is held to its answer.
func (c *Cluster) ActiveController(ctx context.Context) (int32, error) {
	if id, err := cluster.QuorumLeader(ctx, c.admin, []int32{c.id()}); err == nil {
		return id, nil
	}
	if !c.node.Running() {
		return -1, cluster.ErrNotRunning
	}
	return c.id(), nil
}

// Logs is the path of the broker's captured output.
func (c *Cluster) Logs(id int32) string {
	if c.check(id) != nil {
		return ""
	}
	return c.logP
}

// Close kills the broker and waits for it.
func (c *Cluster) Close(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.node.Kill()
	c.admin.Close()
	return errors.Join(err, c.log.Close())
}
