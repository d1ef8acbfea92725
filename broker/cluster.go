package broker

// Cluster mode (process.roles=broker,controller): the broker side of the
// metadata plane. The metaserver (raft voter, image, active controller)
// keeps its log in <log.dirs>/__cluster_metadata-0; a driver goroutine
// turns every image it publishes into the managed data catalogue (the
// partitions whose replicas include this node); a BrokerLifecycle
// registers this node and heartbeats with the offset the catalogue
// reflects, so the controller unfences it only once it hosts what the
// image says. The handlers reach all of it through handler.Cluster.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/handler"
	"github.com/highwater-io/highwater/broker/internal/metadata"
	"github.com/highwater-io/highwater/broker/internal/metaserver"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

// metadataDirName is the metadata log's directory under log.dirs, Kafka's
// name for it.
const metadataDirName = "__cluster_metadata-0"

// driverRetryInterval is the pause before the driver retries an image it
// failed to apply to the catalogue (a disk error, say).
const driverRetryInterval = 500 * time.Millisecond

// clusterNode is one broker's share of the metadata plane. It implements
// handler.Cluster.
type clusterNode struct {
	cs      *clusterSettings
	nodeID  int32
	b       *Broker
	srv     *metaserver.Server
	client  *metaserver.Client
	lc      *metaserver.BrokerLifecycle // nil until Run
	catalog *topics.Catalog
	repl    *replicator    // the data plane (replication.go)
	groups  *clusterGroups // the group coordinators (cluster_groups.go)

	// mu guards synced (the offset of the newest image the catalogue
	// reflects) and syncedc (closed and replaced when synced advances).
	mu      sync.Mutex
	synced  uint64
	syncedc chan struct{}

	// incarnation is this process's registration id (set by
	// startLifecycle, guarded by mu); caughtUp turns true, for good, once
	// the driver applied an image holding that registration: the image
	// then reflects everything the quorum committed before this process
	// registered, so acting on its leaderships is safe (KRaft's catch-up
	// before unfencing). Until then a restarted node's replayed image may
	// name it leader of partitions that moved while it was down.
	incarnation metadata.UUID
	caughtUp    atomic.Bool

	// last is the spec each topic was last synced with; only the driver
	// goroutine touches it.
	last map[string]topics.TopicSpec

	// pidMu guards lc (set once Run starts the lifecycle) and the
	// producer id block [pidNext, pidEnd).
	pidMu           sync.Mutex
	pidNext, pidEnd int64
}

var _ handler.Cluster = (*clusterNode)(nil)

// openCluster creates and starts the metadata service. The data catalogue
// must be open (managed). Nothing is registered until startLifecycle.
func (b *Broker) openCluster() error {
	cs := b.s.cluster
	c := &clusterNode{cs: cs, nodeID: b.s.nodeID, b: b, catalog: b.catalog, syncedc: make(chan struct{}),
		last: map[string]topics.TopicSpec{}}
	mcfg := metaserver.DefaultConfig()
	mcfg.NodeID, mcfg.Voters = b.s.nodeID, cs.voters
	mcfg.Dir, mcfg.FS = filepath.Join(b.s.dataDir, metadataDirName), b.cfg.FS
	mcfg.Listen = func(network, addr string) (net.Listener, error) {
		if cs.bindAddr != "" {
			addr = cs.bindAddr
		}
		return b.cfg.Listen(network, addr)
	}
	mcfg.Now, mcfg.Logger = b.cfg.Now, b.log.With("component", "metaserver")
	cc := &mcfg.ControllerConfig
	cc.SessionTimeoutMs = cs.sessionTimeout.Milliseconds()
	cc.DefaultReplicationFactor = int16(b.s.props.Int64("default.replication.factor"))
	cc.DefaultNumPartitions = int32(b.s.props.Int64("num.partitions"))
	cc.UncleanLeaderElectionEnable = b.s.props.Bool("unclean.leader.election.enable")
	cc.AutoLeaderRebalanceEnable = cs.autoRebalance
	cc.LeaderImbalanceCheckIntervalMs = cs.imbalanceCheckInterval.Milliseconds()
	cc.LeaderImbalancePerBrokerPercentage = cs.imbalancePercentage
	cc.Seed = uint64(b.s.nodeID)
	srv, err := metaserver.New(mcfg)
	if err != nil {
		return fmt.Errorf("cluster metadata: %w", err)
	}
	// The server outlives Run's context: controlled shutdown in Close
	// still needs the quorum. Stop ends it.
	if err := srv.Start(context.Background()); err != nil {
		_ = srv.Stop()
		return fmt.Errorf("cluster metadata: %w", err)
	}
	c.srv = srv
	c.client = metaserver.NewClient(metaserver.ClientConfig{Voters: cs.voters, LeaderHint: srv.Leader,
		ClientID: fmt.Sprintf("highwater-broker-%d", b.s.nodeID), Logger: b.log})
	c.repl = newReplicator(c)
	c.groups = newClusterGroups(c)
	b.cluster = c
	b.metrics.SetTopology(clusterTopology{c})
	return nil
}

// clusterTopology is metrics.Topology over this node's image, so the
// partition gauges (LeaderCount, UnderReplicatedPartitions, ...,
// OfflinePartitionsCount, ActiveControllerCount) follow the cluster.
type clusterTopology struct{ c *clusterNode }

func (t clusterTopology) Partition(topicID [16]byte, partition int32) (leader bool, replicas, isr int, ok bool) {
	p, ok := t.c.Image().Partition(metadata.UUID(topicID), partition)
	if !ok {
		return false, 0, 0, false
	}
	// Not caught up: the image may be a stale replay; this node leads
	// nothing yet.
	return p.Leader == t.c.nodeID && t.c.caughtUp.Load(), len(p.Replicas), len(p.ISR), true
}

func (t clusterTopology) ActiveController() bool { return t.c.srv.Leader() == t.c.nodeID }

func (t clusterTopology) OfflinePartitions() int {
	if !t.ActiveController() {
		return 0
	}
	img := t.c.Image()
	n := 0
	for _, tp := range img.Topics() {
		for _, p := range tp.Partitions {
			if b, ok := img.Broker(p.Leader); p.Leader < 0 || !ok || b.Fenced {
				n++
			}
		}
	}
	return n
}

// startLifecycle registers this node with its PLAINTEXT endpoint and
// starts heartbeating (Run calls it once serving).
func (c *clusterNode) startLifecycle(host string, port int32, rack string, random io.Reader) error {
	var inc metadata.UUID
	if _, err := io.ReadFull(random, inc[:]); err != nil {
		return fmt.Errorf("cluster: incarnation id: %w", err)
	}
	prevEpoch, err := c.takeCleanShutdownEpoch()
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	c.mu.Lock()
	c.incarnation = inc
	c.mu.Unlock()
	reqTimeout := max(c.cs.heartbeatInterval, c.cs.sessionTimeout/2)
	lc := metaserver.NewBrokerLifecycle(metaserver.LifecycleConfig{
		Registration: controller.Registration{BrokerID: c.nodeID, IncarnationID: inc, Rack: rack,
			Endpoints:           []metadata.Endpoint{{Name: "PLAINTEXT", Host: host, Port: port, SecurityProtocol: "PLAINTEXT"}},
			PreviousBrokerEpoch: prevEpoch},
		Controller: c.client,
		// The catalogue's offset, not the raft state's: the controller
		// unfences this node only once it hosts what the image says.
		MetadataOffset:    func() int64 { return int64(c.syncedOffset()) },
		HeartbeatInterval: c.cs.heartbeatInterval,
		RequestTimeout:    reqTimeout,
		Logger:            c.b.log.With("component", "lifecycle"),
	})
	lc.Start(context.Background())
	c.pidMu.Lock()
	c.lc = lc
	c.pidMu.Unlock()
	return nil
}

// close runs controlled shutdown (bounded by the session timeout: past it
// the controller fences this node anyway), then stops the lifecycle,
// flushes the logs and writes the clean-shutdown marker
// (cluster_shutdown.go), and stops the client and the metadata service.
func (c *clusterNode) close() error {
	c.pidMu.Lock()
	lc := c.lc
	c.pidMu.Unlock()
	var epoch int64
	if lc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.cs.sessionTimeout)
		if err := lc.Shutdown(ctx); err != nil {
			c.b.log.Warn("controlled shutdown did not complete", "err", err)
		}
		cancel()
		lc.Stop()
		epoch = lc.Status().Epoch
	}
	c.repl.cancel() // Run has returned (or never ran): nothing replicates now
	if err := c.writeCleanShutdown(epoch); err != nil {
		c.b.log.Warn("clean shutdown not recorded: the next start counts as unclean", "err", err)
	}
	c.client.Close()
	return c.srv.Stop()
}

// drive applies every published metadata state to the catalogue until ctx
// ends. A failed state is retried after driverRetryInterval (or as soon as
// a newer one is published).
func (c *clusterNode) drive(ctx context.Context) {
	defer c.groups.stopAll()
	for {
		st := c.srv.State()
		err := c.syncTo(st.Image)
		if err == nil {
			// The catalogue follows every image (the controller unfences
			// this node once it reflects the registration); leaderships
			// only once caught up.
			caughtUp := c.catchUp(st.Image)
			if caughtUp {
				c.repl.apply(st.Image)
			}
			c.setSynced(st.Offset)
			// After publishing the offset: loading groups (or creating
			// __consumer_offsets) must not hold back unfencing.
			if caughtUp {
				c.groups.apply(ctx, st.Image)
				c.b.clusterTxn.apply(ctx, st.Image) // transaction coordinators (cluster_txn.go)
			}
			select {
			case <-ctx.Done():
				return
			case <-st.Changed():
			}
			continue
		}
		c.b.log.Error("applying cluster metadata to the catalogue", "offset", st.Offset, "err", err)
		t := time.NewTimer(driverRetryInterval)
		select {
		case <-ctx.Done():
		case <-st.Changed():
		case <-t.C:
		}
		t.Stop()
		if ctx.Err() != nil {
			return
		}
	}
}

// syncTo makes the catalogue hold img's topics: every topic with the
// partitions this node is a replica of, and nothing the image deleted.
func (c *clusterNode) syncTo(img metadata.Image) error {
	var errs []error
	seen := map[string]bool{}
	for _, t := range img.Topics() {
		seen[t.Name] = true
		spec := topics.TopicSpec{Name: t.Name, ID: [16]byte(t.ID), Internal: t.Name == offsetsTopic,
			Configs: img.Config(metadata.ConfigResource{Type: metadata.ResourceTopic, Name: t.Name})}
		for i, p := range t.Partitions {
			if slices.Contains(p.Replicas, c.nodeID) {
				spec.Hosted = append(spec.Hosted, int32(i))
			}
		}
		if prev, ok := c.last[t.Name]; ok && specEqual(prev, spec) {
			continue
		}
		if err := c.catalog.Sync(spec); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Name, err))
			delete(c.last, t.Name)
			continue
		}
		c.last[t.Name] = spec
	}
	for _, t := range c.catalog.List() {
		if seen[t.Name] {
			continue
		}
		if err := c.catalog.Drop(t.Name); err != nil && !errors.Is(err, topics.ErrUnknownTopic) {
			errs = append(errs, fmt.Errorf("%s: %w", t.Name, err))
			continue
		}
		delete(c.last, t.Name)
	}
	if len(errs) == 0 {
		c.catalog.Notify()
	}
	return errors.Join(errs...)
}

// catchUp reports whether img (or an earlier image) holds this process's
// own registration.
func (c *clusterNode) catchUp(img metadata.Image) bool {
	if c.caughtUp.Load() {
		return true
	}
	c.mu.Lock()
	inc := c.incarnation
	c.mu.Unlock()
	if b, ok := img.Broker(c.nodeID); ok && inc != (metadata.UUID{}) && b.IncarnationID == inc {
		c.caughtUp.Store(true)
		c.b.log.Info("metadata caught up with the quorum: acting on partition leadership")
		return true
	}
	return false
}

// CaughtUp implements handler.Cluster.
func (c *clusterNode) CaughtUp() bool { return c.caughtUp.Load() }

func specEqual(a, b topics.TopicSpec) bool {
	return a.Name == b.Name && a.ID == b.ID && a.Internal == b.Internal &&
		slices.Equal(a.Hosted, b.Hosted) && maps.Equal(a.Configs, b.Configs)
}

func (c *clusterNode) setSynced(offset uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if offset <= c.synced && c.synced != 0 {
		return
	}
	c.synced = offset
	close(c.syncedc)
	c.syncedc = make(chan struct{})
}

func (c *clusterNode) syncedOffset() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.synced
}

// Image implements handler.Cluster.
func (c *clusterNode) Image() metadata.Image { return c.srv.State().Image }

// ControllerID implements handler.Cluster: the quorum leader.
func (c *clusterNode) ControllerID() int32 { return c.srv.Leader() }

// Controller implements handler.Cluster: the in-process controller API
// while this node is the active controller, else forwarding to it.
func (c *clusterNode) Controller() handler.ControllerAPI { return forwardingController{c} }

// forwardingController tries the in-process controller and, when this
// node is not the active one, forwards the call to the active controller's
// listener (metaserver.Client follows NOT_CONTROLLER to it), so topic
// admin works whichever node a client asks (KIP-590).
type forwardingController struct{ c *clusterNode }

func forward[T any](local func() (T, error), remote func() (T, error)) (T, error) {
	out, err := local()
	if errors.Is(err, metaserver.ErrNotController) {
		return remote()
	}
	return out, err
}

func (f forwardingController) CreateTopics(ctx context.Context, reqs []controller.CreateTopic) ([]controller.CreateTopicResult, error) {
	return forward(func() ([]controller.CreateTopicResult, error) { return f.c.srv.CreateTopics(ctx, reqs) },
		func() ([]controller.CreateTopicResult, error) { return f.c.client.CreateTopics(ctx, reqs) })
}

func (f forwardingController) CreatePartitions(ctx context.Context, reqs []controller.CreatePartitions) ([]error, error) {
	return forward(func() ([]error, error) { return f.c.srv.CreatePartitions(ctx, reqs) },
		func() ([]error, error) { return f.c.client.CreatePartitions(ctx, reqs) })
}

func (f forwardingController) DeleteTopics(ctx context.Context, names []string, ids []metadata.UUID) ([]error, error) {
	return forward(func() ([]error, error) { return f.c.srv.DeleteTopics(ctx, names, ids) },
		func() ([]error, error) { return f.c.client.DeleteTopics(ctx, names, ids) })
}

func (f forwardingController) AlterConfigs(ctx context.Context, reqs []controller.AlterConfig) ([]error, error) {
	return forward(func() ([]error, error) { return f.c.srv.AlterConfigs(ctx, reqs) },
		func() ([]error, error) { return f.c.client.AlterConfigs(ctx, reqs) })
}

func (f forwardingController) ElectLeaders(ctx context.Context, typ controller.ElectionType, tps []controller.TopicPartition) ([]controller.ElectionResult, error) {
	return forward(func() ([]controller.ElectionResult, error) { return f.c.srv.ElectLeaders(ctx, typ, tps) },
		func() ([]controller.ElectionResult, error) { return f.c.client.ElectLeaders(ctx, typ, tps) })
}

// WaitLocal implements handler.Cluster.
func (c *clusterNode) WaitLocal(ctx context.Context) error {
	target := c.srv.State().Offset
	for {
		c.mu.Lock()
		synced, ch := c.synced, c.syncedc
		c.mu.Unlock()
		if synced >= target {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// NextProducerID implements handler.ProducerIDs in cluster mode: ids come
// in blocks from the active controller (AllocateProducerIds), so no two
// nodes hand out the same one.
func (c *clusterNode) NextProducerID() (int64, error) {
	c.pidMu.Lock()
	defer c.pidMu.Unlock()
	if c.pidNext >= c.pidEnd {
		if c.lc == nil {
			return 0, errors.New("cluster: producer ids: broker not registered yet")
		}
		epoch := c.lc.Status().Epoch
		if epoch == 0 {
			return 0, errors.New("cluster: producer ids: broker not registered yet")
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(c.cs.sessionTimeout/2, time.Second))
		defer cancel()
		blk, err := c.client.AllocateProducerIDs(ctx, c.nodeID, epoch)
		if err != nil {
			return 0, fmt.Errorf("cluster: producer ids: %w", err)
		}
		if blk.Size <= 0 {
			return 0, errors.New("cluster: producer ids: empty block")
		}
		c.pidNext, c.pidEnd = blk.First, blk.First+blk.Size
	}
	id := c.pidNext
	c.pidNext++
	return id, nil
}

// preferredReadReplica is handler.Config.PreferredReadReplica (KIP-392):
// with replica.selector.class set to Kafka's RackAwareReplicaSelector, a
// consumer that sends its rack reads from a replica in that rack: the
// leader if it is there, else the lowest-id in-sync replica there whose
// broker is active (unfenced, not shutting down); -1 (the leader) when
// none is, the client sent no rack, or the selector is the default one.
func (b *Broker) preferredReadReplica(topic string, partition int32, clientRack string) int32 {
	c := b.cluster
	if c == nil || !c.cs.rackAwareSelector || clientRack == "" {
		return -1
	}
	img := c.Image()
	t, ok := img.TopicByName(topic)
	if !ok || partition < 0 || int(partition) >= len(t.Partitions) {
		return -1
	}
	p := t.Partitions[partition]
	best := int32(-1)
	for _, id := range p.ISR {
		br, ok := img.Broker(id)
		if !ok || !br.Active() || br.Rack != clientRack {
			continue
		}
		if id == p.Leader {
			return -1 // the leader is in the client's rack: no redirect
		}
		if best < 0 || id < best {
			best = id
		}
	}
	return best
}
