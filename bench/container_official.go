package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	hcontainer "github.com/highwater-io/highwater/harness/container"
)

// ErrImageUnavailable means an official image is neither stored by the
// engine nor pullable; it is harness/container's sentinel.
var ErrImageUnavailable = hcontainer.ErrImageUnavailable

// OfficialContainerTarget runs an official broker image — Apache Kafka
// (apache/kafka) or Redpanda (redpandadata/redpanda) — as Nodes
// containers on their own bridge network (harness/container's NewOfficial),
// for comparison with the reference broker. The image must be in the
// engine's local store or pullable: Start fails fast with an error
// wrapping ErrImageUnavailable that names the image and the fix (pre-load
// it, or HIGHWATER_KAFKA_IMAGE / HIGHWATER_REDPANDA_IMAGE / Image).
type OfficialContainerTarget struct {
	// Flavor is hcontainer.FlavorKafka or hcontainer.FlavorRedpanda.
	Flavor hcontainer.Flavor
	// Image overrides the flavor's image and its environment variable.
	Image string
	// Nodes is the broker count; 1 when zero.
	Nodes int
	// WorkDir holds each start's node data (removed on Stop);
	// os.TempDir() when empty.
	WorkDir string
	// Set passes Kafka server properties (Kafka) or rpk configuration
	// paths (Redpanda) to every node.
	Set map[string]string
	// StartTimeout bounds image check, container start and readiness; the
	// driver's default (3 minutes) when zero.
	StartTimeout time.Duration
	// KafkaHeapMB is each Kafka JVM's heap; the driver's 512 when zero.
	KafkaHeapMB int
}

// Name implements Target: "container:kafka" or "container:redpanda", with
// the node count when more than one ("container:kafka-3").
func (t OfficialContainerTarget) Name() string {
	name := "container:" + string(t.Flavor)
	if t.Nodes > 1 {
		name += fmt.Sprintf("-%d", t.Nodes)
	}
	return name
}

// Start implements Target.
func (t OfficialContainerTarget) Start(ctx context.Context) (Instance, error) {
	nodes := t.Nodes
	if nodes <= 0 {
		nodes = 1
	}
	dir, err := os.MkdirTemp(t.WorkDir, "bench-official-")
	if err != nil {
		return nil, fmt.Errorf("bench: %s dir: %w", t.Name(), err)
	}
	c, err := hcontainer.NewOfficial(ctx, hcontainer.OfficialConfig{
		Flavor: t.Flavor, KafkaHeapMB: t.KafkaHeapMB,
		Config: hcontainer.Config{Nodes: nodes, Dir: dir, Image: t.Image, Set: t.Set, ReadyTimeout: t.StartTimeout},
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: start %s: %w", t.Name(), err)
	}
	return &officialInstance{c: c, dir: dir, nodes: nodes}, nil
}

type officialInstance struct {
	c     *hcontainer.OfficialCluster
	dir   string
	nodes int
}

func (oi *officialInstance) Bootstrap() string { return oi.c.Bootstrap() }
func (oi *officialInstance) NodeCount() int    { return oi.nodes }

// PID is node 1's container process as the engine reports it (visible in
// this host's /proc with a rootful engine); 0 when unknown.
func (oi *officialInstance) PID() int {
	if p := oi.PIDs(); len(p) > 0 {
		return p[0]
	}
	return 0
}

// PIDs are every running node's container process.
func (oi *officialInstance) PIDs() []int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return oi.c.PIDs(ctx)
}

// Stop removes the containers and network and the nodes' data.
func (oi *officialInstance) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := oi.c.Close(ctx)
	if rmErr := os.RemoveAll(oi.dir); err == nil {
		err = rmErr
	}
	return err
}
