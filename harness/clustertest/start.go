package clustertest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/kafka"
	"github.com/highwater-io/highwater/harness/reference"
)

// Impl names a cluster implementation.
type Impl string

// The implementations Start knows.
const (
	Reference Impl = "reference"
	Kafka     Impl = "kafka"
)

// ErrBadImpl means an implementation name Start does not know.
var ErrBadImpl = errors.New("clustertest: unknown implementation")

// ParseImpls turns "reference", "kafka" or "both" into implementations.
func ParseImpls(s string) ([]Impl, error) {
	switch s {
	case string(Reference):
		return []Impl{Reference}, nil
	case string(Kafka):
		return []Impl{Kafka}, nil
	case "both":
		return []Impl{Reference, Kafka}, nil
	}
	return nil, fmt.Errorf("%w: %q (want reference, kafka or both)", ErrBadImpl, s)
}

// RackAwareSelector is Kafka's replica selector for KIP-392 follower
// fetching; both implementations take it under the same property name.
const RackAwareSelector = "org.apache.kafka.common.replica.RackAwareReplicaSelector"

// Defaults shared by both implementations.
const (
	DefaultNodes = 3
	// DefaultSessionTimeout is Kafka's broker.session.timeout.ms default.
	DefaultSessionTimeout = 9 * time.Second
)

// Config describes a cluster to start; both implementations get the same
// node count, racks and broker settings.
type Config struct {
	Impl Impl
	// Dir holds the cluster's data and logs. Required.
	Dir string
	// Nodes is the node count; 0 means DefaultNodes.
	Nodes int
	// Binary is the highwater executable for the reference cluster; empty
	// means this process's own executable.
	Binary string
	// SessionTimeout is broker.session.timeout.ms on every node (how long
	// a silent broker keeps its leaderships); the heartbeat interval is a
	// quarter of it, as Kafka's defaults (9 s / 2 s) roughly are. Zero means
	// DefaultSessionTimeout.
	SessionTimeout time.Duration
	// Set adds or overrides broker properties on every node, last.
	Set map[string]string
	// ReadyTimeout bounds the start; the driver's default when zero.
	ReadyTimeout time.Duration
}

// Properties are the broker settings Start gives every node of either
// implementation: the session timeout and heartbeat, rack-aware replica
// selection for consumers that set client.rack, then cfg.Set.
func (cfg Config) Properties() map[string]string {
	st := cfg.SessionTimeout
	if st <= 0 {
		st = DefaultSessionTimeout
	}
	hb := max(st/4, 100*time.Millisecond)
	p := map[string]string{
		"broker.session.timeout.ms":    strconv.FormatInt(st.Milliseconds(), 10),
		"broker.heartbeat.interval.ms": strconv.FormatInt(hb.Milliseconds(), 10),
		"replica.selector.class":       RackAwareSelector,
	}
	for k, v := range cfg.Set {
		p[k] = v
	}
	return p
}

// Start starts the cluster cfg describes and waits until it is ready. On
// failure nothing is left running.
func Start(ctx context.Context, cfg Config) (cluster.Cluster, error) {
	if cfg.Dir == "" {
		return nil, errors.New("clustertest: Config.Dir is required")
	}
	nodes := cfg.Nodes
	if nodes == 0 {
		nodes = DefaultNodes
	}
	dir := filepath.Join(cfg.Dir, string(cfg.Impl))
	switch cfg.Impl {
	case Reference:
		return reference.New(ctx, reference.Config{
			Nodes: nodes, Dir: dir, Binary: cfg.Binary, Set: cfg.Properties(), ReadyTimeout: cfg.ReadyTimeout,
		})
	case Kafka:
		return kafka.New(ctx, kafka.Config{
			Nodes: nodes, Dir: dir, Set: cfg.Properties(), ReadyTimeout: cfg.ReadyTimeout,
		})
	}
	return nil, fmt.Errorf("%w: %q", ErrBadImpl, cfg.Impl)
}
