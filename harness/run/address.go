package run

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/cluster"
)

// addressCluster is a cluster someone else runs, reached by its bootstrap
// addresses (`--impl address --bootstrap host:port,...`). The harness drives
// clients against it and checks the history; it controls no process or
// link, so every fault that needs control is unavailable, and the run's
// report says so. Nodes, leaders and the controller come from Metadata.
type addressCluster struct {
	seeds []string
	nodes []cluster.Node
}

func startAddress(ctx context.Context, bootstrap string) (*addressCluster, error) {
	var seeds []string
	for s := range strings.SplitSeq(bootstrap, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("%w: --impl address needs --bootstrap host:port[,host:port...]", ErrBadScenario)
	}
	a := &addressCluster{seeds: seeds}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	md, err := a.metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("run: cluster at %s: %w", bootstrap, err)
	}
	for _, b := range md.Brokers {
		n := cluster.Node{ID: b.NodeID, Addr: fmt.Sprintf("%s:%d", b.Host, b.Port)}
		if b.Rack != nil {
			n.Rack = *b.Rack
		}
		a.nodes = append(a.nodes, n)
	}
	if len(a.nodes) == 0 {
		return nil, fmt.Errorf("run: cluster at %s lists no brokers", bootstrap)
	}
	return a, nil
}

func (a *addressCluster) noProcessControl() {}

func (a *addressCluster) metadata(ctx context.Context) (kadm.Metadata, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.seeds...))
	if err != nil {
		return kadm.Metadata{}, err
	}
	defer cl.Close()
	return kadm.NewClient(cl).Metadata(ctx)
}

func (a *addressCluster) Nodes() []cluster.Node { return a.nodes }
func (a *addressCluster) Bootstrap() string     { return strings.Join(a.seeds, ",") }

func (a *addressCluster) node(id int32) error {
	for _, n := range a.nodes {
		if n.ID == id {
			return nil
		}
	}
	return fmt.Errorf("%w: %d", cluster.ErrUnknownNode, id)
}

func (a *addressCluster) unavailable(verb string, id int32) error {
	if err := a.node(id); err != nil {
		return err
	}
	return fmt.Errorf("%w: the cluster at %s is not run by the harness: cannot %s node %d", cluster.ErrUnavailable, a.Bootstrap(), verb, id)
}

// Start and Resume of a node that is (as far as the harness knows) running
// are no-ops, so healing at the end of a run works.
func (a *addressCluster) Start(_ context.Context, id int32) error  { return a.node(id) }
func (a *addressCluster) Resume(_ context.Context, id int32) error { return a.node(id) }
func (a *addressCluster) Stop(_ context.Context, id int32) error   { return a.unavailable("stop", id) }
func (a *addressCluster) Kill(_ context.Context, id int32) error   { return a.unavailable("kill", id) }
func (a *addressCluster) Pause(_ context.Context, id int32) error  { return a.unavailable("pause", id) }
func (a *addressCluster) Restart(_ context.Context, id int32) error {
	return a.unavailable("restart", id)
}

func (a *addressCluster) Leaders(ctx context.Context) (map[cluster.TopicPartition]int32, error) {
	md, err := a.metadata(ctx)
	if err != nil {
		return nil, err
	}
	out := map[cluster.TopicPartition]int32{}
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			out[cluster.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = p.Leader
		}
	}
	return out, nil
}

func (a *addressCluster) ActiveController(ctx context.Context) (int32, error) {
	md, err := a.metadata(ctx)
	if err != nil {
		return -1, err
	}
	return md.Controller, nil
}

func (a *addressCluster) Logs(int32) string { return "(not run by the harness)" }

// Close leaves the cluster running: it is not the harness's.
func (a *addressCluster) Close(context.Context) error { return nil }
