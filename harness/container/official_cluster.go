package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/internal/await"
)

const (
	// defaultOfficialReady is longer than the reference driver's: three
	// JVMs (or Seastar processes) starting on a small shared host.
	defaultOfficialReady = 3 * time.Minute
	defaultKafkaHeapMB   = 512
	defaultRedpandaMem   = "1G"
)

// OfficialConfig describes a cluster of an official broker image.
type OfficialConfig struct {
	// Config's Nodes, Dir, Racks, Set, NodeSet, Subnet, ReadyTimeout
	// (3 minutes when zero) and StopTimeout mean what they mean for the
	// reference driver; Image overrides the flavor's image (before
	// HIGHWATER_KAFKA_IMAGE / HIGHWATER_REDPANDA_IMAGE and the default);
	// Build and BuildLog are ignored. Set and NodeSet are Kafka server
	// properties for FlavorKafka (rendered as KAFKA_* variables) and rpk
	// configuration paths for FlavorRedpanda (`--set key=value`).
	// HostNetwork (with BasePort) is supported for FlavorKafka only:
	// Redpanda's admin, proxy and schema-registry ports are fixed.
	Config
	// Flavor picks the image family; required.
	Flavor Flavor
	// PullTimeout bounds the pre-flight pull when the image is not
	// stored locally; DefaultPullTimeout when zero.
	PullTimeout time.Duration
	// KafkaHeapMB is each Kafka JVM's heap (-Xms = -Xmx); 512 when zero.
	KafkaHeapMB int
	// RedpandaMemory is each Redpanda node's --memory; "1G" when empty.
	RedpandaMemory string
}

// OfficialCluster is a cluster of official Apache Kafka or Redpanda
// containers. Process, pause, network-cut and lossy-link operations are
// the reference driver's (the same containers-on-a-bridge layer); clock
// skew and lost unsynced writes are unavailable (neither image has the
// reference broker's seams).
type OfficialCluster struct {
	*Cluster
	flavor    Flavor
	clusterID string
	heapMB    int
	memory    string
	pull      time.Duration
}

var (
	_ cluster.Cluster         = (*OfficialCluster)(nil)
	_ cluster.NetworkProvider = (*OfficialCluster)(nil)
	_ cluster.Links           = (*OfficialCluster)(nil)
	_ cluster.Clocks          = (*OfficialCluster)(nil)
	_ cluster.UnsyncedLoss    = (*OfficialCluster)(nil)
)

func (cfg OfficialConfig) withDefaults() (OfficialConfig, error) {
	if err := cfg.Flavor.valid(); err != nil {
		return cfg, err
	}
	if cfg.Flavor == FlavorRedpanda && cfg.HostNetwork {
		return cfg, fmt.Errorf("container: HostNetwork is not supported for Redpanda (its admin, proxy and schema-registry ports would collide between nodes); use the default bridge network")
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = defaultOfficialReady
	}
	var err error
	if cfg.Config, err = cfg.Config.withDefaults(); err != nil {
		return cfg, err
	}
	cfg.Image = ResolveImage(cfg.Flavor, cfg.Image)
	if cfg.PullTimeout <= 0 {
		cfg.PullTimeout = DefaultPullTimeout
	}
	if cfg.KafkaHeapMB <= 0 {
		cfg.KafkaHeapMB = defaultKafkaHeapMB
	}
	if cfg.RedpandaMemory == "" {
		cfg.RedpandaMemory = defaultRedpandaMem
	}
	return cfg, nil
}

// NewOfficial checks the engine, makes sure the image is stored or
// pullable (ErrImageUnavailable with the fix otherwise, before anything is
// created), creates the network and one container per node, and waits
// until a node's Metadata lists every node and names a controller. On
// failure everything it made is removed again.
func NewOfficial(ctx context.Context, cfg OfficialConfig) (*OfficialCluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := CheckEngine(ctx); err != nil {
		return nil, err
	}
	o := &OfficialCluster{
		Cluster:   &Cluster{cfg: cfg.Config, runID: newRunID(), image: cfg.Image},
		flavor:    cfg.Flavor,
		clusterID: newClusterID(),
		heapMB:    cfg.KafkaHeapMB,
		memory:    cfg.RedpandaMemory,
		pull:      cfg.PullTimeout,
	}
	if o.api, err = testcontainers.NewDockerClientWithOpts(ctx); err != nil {
		return nil, fmt.Errorf("%w at %s: %w; %s", ErrNoEngine, EngineHost(), err, SetupHint)
	}
	if err := presentOrPull(ctx, o.api, o.image, o.pull); err != nil {
		_ = o.api.Close()
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, cfg.ReadyTimeout)
	defer cancel()
	if err := o.setup(rctx); err != nil {
		_ = o.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return o, nil
}

// Flavor is the image family this cluster runs.
func (o *OfficialCluster) Flavor() Flavor { return o.flavor }

// Image is the image every node runs.
func (o *OfficialCluster) Image() string { return o.image }

func (o *OfficialCluster) setup(ctx context.Context) error {
	c := o.Cluster
	if err := c.placeNodes(ctx); err != nil {
		return err
	}
	err := c.prepareNodes(func(n *node, data string) error {
		if o.flavor == FlavorRedpanda {
			n.ports = [3]int{clientPort, redpandaRPCPort, redpandaAdminPort}
		}
		// Both images run as an unprivileged user of their own (uid
		// 1000 appuser, uid 101 redpanda) that must write the bind mount.
		return os.Chmod(data, 0o777)
	})
	if err != nil {
		return err
	}
	c.clocks.SetUnavailable(fmt.Errorf("%w: clock skew: the %s image has no clock seam (only the reference broker does)", cluster.ErrUnavailable, o.flavor))
	if err := c.createNodes(ctx, o.createNode); err != nil {
		return err
	}
	return await.Until(ctx, await.Options{
		Interval: pollInterval,
		Attempt:  cluster.PerNodeTimeout,
		Fatal:    o.exited,
		TimedOut: func(last error) error {
			return fmt.Errorf("%w: cluster within %v: %v; container logs: %s", ErrNotReady, o.cfg.ReadyTimeout, last, o.tails())
		},
	}, o.clusterReady)
}

// exited names a node whose container stopped during New (a bad setting,
// a missing permission), with its log's tail: waiting longer cannot help,
// so the wait ends at once instead of after ReadyTimeout.
func (o *OfficialCluster) exited(ctx context.Context) error {
	for _, n := range o.nodes {
		if st, _, err := o.state(ctx, n); err == nil && !st.running {
			return fmt.Errorf("%w: node %d: container exited; its log ends:\n%s", ErrNotReady, n.id, lastLines(o.containerLogs(n), 15))
		}
	}
	return nil
}

// request is node n's container request without its network settings.
func (o *OfficialCluster) request(n *node) (testcontainers.ContainerRequest, string, error) {
	req := testcontainers.ContainerRequest{
		Image:  o.image,
		Name:   fmt.Sprintf("highwater-%s-node-%d", o.runID, n.id),
		Labels: map[string]string{LabelKey: o.runID, LabelKey + ".node": strconv.Itoa(int(n.id)), LabelKey + ".flavor": string(o.flavor)},
	}
	mount := kafkaDataDir
	switch o.flavor {
	case FlavorKafka:
		env, err := kafkaEnv(kafkaProperties(n, o.nodes, o.cfg.Set, o.cfg.NodeSet[n.id]), o.clusterID, o.heapMB)
		if err != nil {
			return req, "", err
		}
		req.Env = env
	case FlavorRedpanda:
		mount = redpandaDataDir
		req.Cmd = redpandaCommand(n, o.nodes, o.memory, o.cfg.Set, o.cfg.NodeSet[n.id])
	}
	return req, filepath.Join(n.dir, "data") + ":" + mount, nil
}

// createNode creates and starts n's container, placed as the reference
// driver places its own (own address on the bridge, client port
// published on 127.0.0.1 only; or the host's network namespace).
func (o *OfficialCluster) createNode(ctx context.Context, n *node) error {
	req, bind, err := o.request(n)
	if err != nil {
		return err
	}
	o.place(&req, n, bind)
	return o.run(ctx, n, req, "start "+o.image+" container")
}

// ActiveController: Kafka's Metadata names a random live broker as
// controller in KRaft, so Kafka asks the metadata quorum (DescribeQuorum)
// for its leader; Redpanda's Metadata names its controller leader, so the
// reference driver's vote applies.
func (o *OfficialCluster) ActiveController(ctx context.Context) (int32, error) {
	if o.flavor == FlavorKafka {
		return cluster.QuorumLeader(ctx, o.admin, cluster.IDs(o.directs))
	}
	return o.Cluster.ActiveController(ctx)
}

// MetricsURL is Redpanda's Prometheus endpoint on its admin port; Apache
// Kafka serves none (JMX only), so "".
func (o *OfficialCluster) MetricsURL(id int32) string {
	n, err := o.node(id)
	if err != nil || o.flavor != FlavorRedpanda {
		return ""
	}
	return "http://" + n.addr(metricsIdx) + "/public_metrics"
}

// UnsyncedLossAvailable: neither image keeps writes in a cache of its own
// that kill -9 loses; the kernel's page cache survives a killed process.
func (o *OfficialCluster) UnsyncedLossAvailable() error {
	return fmt.Errorf("%w: lost unsynced writes: the %s image writes through the kernel's page cache, which survives kill -9 (only the reference broker has a page cache of its own)", cluster.ErrUnavailable, o.flavor)
}

// PIDs are the host pids of the running nodes' containers' first
// processes (the engine reports them; 0-less, in id order).
func (o *OfficialCluster) PIDs(ctx context.Context) []int {
	var out []int
	for _, n := range o.nodes {
		if n.ctr == nil {
			continue
		}
		if st, pid, err := o.state(ctx, n); err == nil && st.running && pid > 0 {
			out = append(out, pid)
		}
	}
	return out
}

// kafkaOfficial is a Kafka-flavored cluster with its data directories:
// the nodes' log.dirs are bind-mounted from the host in Kafka's on-disk
// layout, so the harness can read the replicas' logs once they stop.
// Redpanda's layout is its own, so a Redpanda cluster does not offer them.
type kafkaOfficial struct{ *OfficialCluster }

var _ cluster.DataDirs = kafkaOfficial{}

// DataDir is node id's log directory on the host, <Dir>/node-<id>/data.
func (k kafkaOfficial) DataDir(id int32) string {
	n, err := k.node(id)
	if err != nil {
		return ""
	}
	return filepath.Join(n.dir, "data")
}

// Harness is o as the chaos harness drives it: with cluster.DataDirs for
// Kafka (its log format is what the replica check reads), without for
// Redpanda.
func (o *OfficialCluster) Harness() cluster.Cluster {
	if o.flavor == FlavorKafka {
		return kafkaOfficial{o}
	}
	return o
}
