package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/container"
	"github.com/highwater-io/highwater/harness/kafka"
	"github.com/highwater-io/highwater/harness/reference"
	"github.com/highwater-io/highwater/nemesis"
)

// StartCluster starts the cluster c describes with its data and logs under
// dir.
func StartCluster(ctx context.Context, c ClusterConfig, dir string) (cluster.Cluster, error) {
	switch c.Impl {
	case ImplKafka:
		return kafka.New(ctx, kafka.Config{
			Nodes: c.nodes(), Dir: dir, Set: c.Set, NetNS: c.NetNS, ReadyTimeout: c.ReadyTimeout,
		})
	case ImplKfake:
		return startKfake(c.nodes())
	case ImplReference:
		return reference.New(ctx, reference.Config{
			Nodes: c.nodes(), Dir: dir, Set: c.Set, Binary: c.Binary, ReadyTimeout: c.ReadyTimeout,
			NetNS: c.NetNS, Proxy: c.Proxy,
		})
	case ImplAddress:
		return startAddress(ctx, c.Bootstrap)
	case ImplContainer:
		// This executable goes into the image when it is static (the
		// release build); otherwise the driver builds ./cmd/highwater
		// with CGO_ENABLED=0.
		bin := c.Binary
		if bin == "" {
			if exe, err := os.Executable(); err == nil && container.CheckStatic(exe) == nil {
				bin = exe
			}
		}
		return container.New(ctx, container.Config{Nodes: c.nodes(), Dir: dir, Set: c.Set,
			ReadyTimeout: c.ReadyTimeout, Build: container.BuildContext{Binary: bin}})
	case ImplContainerKafka, ImplContainerRedpanda:
		flavor := container.FlavorKafka
		if c.Impl == ImplContainerRedpanda {
			flavor = container.FlavorRedpanda
		}
		oc, err := container.NewOfficial(ctx, container.OfficialConfig{Flavor: flavor, Config: container.Config{
			Nodes: c.nodes(), Dir: dir, Set: c.Set, ReadyTimeout: c.ReadyTimeout}})
		if err != nil {
			return nil, err
		}
		return oc.Harness(), nil
	default:
		return nil, fmt.Errorf("%w: cluster impl %q", ErrBadScenario, c.Impl)
	}
}

// topology adapts a cluster.Cluster to nemesis.Topology.
type topology struct{ c cluster.Cluster }

func (t topology) Nodes() []nemesis.Node {
	ns := t.c.Nodes()
	out := make([]nemesis.Node, len(ns))
	for i, n := range ns {
		out[i] = nemesis.Node{ID: n.ID, Rack: n.Rack}
	}
	return out
}

func (t topology) Leaders(ctx context.Context) (map[nemesis.TopicPartition]int32, error) {
	m, err := t.c.Leaders(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[nemesis.TopicPartition]int32, len(m))
	for tp, id := range m {
		out[nemesis.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}] = id
	}
	return out, nil
}

func (t topology) ActiveController(ctx context.Context) (int32, error) {
	return t.c.ActiveController(ctx)
}

// NemesisEnv is the nemesis's view of c: its processes (a cluster.Cluster
// has the methods nemesis.Processes needs), its links when the driver can
// cut them (else nil, with the reason), and its topology. rnd drives
// target selection.
func NemesisEnv(c cluster.Cluster, rnd *rand.Rand, log *slog.Logger) (nemesis.Env, error) {
	env := nemesis.Env{Processes: c, Topology: topology{c}, Rand: rnd, Logger: log}
	if _, ok := c.(noProcessControl); ok {
		env.Processes = nil // the process faults then say they are unavailable
	}
	netw, err := cluster.NetworkOf(c)
	if err != nil {
		return env, err // Network stays nil; err says why, for the report
	}
	env.Network = netw
	return env, nil
}

// AvailableFaults lists the registered faults that can run against env,
// and why each other one cannot.
func AvailableFaults(env nemesis.Env) ([]string, map[string]error) {
	return nemesis.Runnable(env, nemesis.Names())
}

// healAll makes sure every node runs and every link is up, whatever the
// nemesis left behind (it heals itself, but a failed heal must not leave a
// paused node through recovery).
func healAll(ctx context.Context, c cluster.Cluster, env nemesis.Env) error {
	var errs []error
	if env.Network != nil {
		if err := env.Network.HealAll(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range c.Nodes() {
		_ = c.Resume(ctx, n.ID) // harmless on a running node
		if err := c.Start(ctx, n.ID); err != nil {
			errs = append(errs, fmt.Errorf("start node %d: %w", n.ID, err))
		}
	}
	return errors.Join(errs...)
}
