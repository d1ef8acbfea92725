package run

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/cluster"
)

// kfakeCluster runs franz-go's in-process kfake as a cluster.Cluster, to
// develop workloads and checkers against (`--impl kfake`). It is not Kafka
// and has no processes: the process faults are unavailable (NemesisEnv
// gives the nemesis no process control), and Start/Resume on a running
// node are no-ops so healing works.
type kfakeCluster struct {
	c     *kfake.Cluster
	nodes []cluster.Node
}

func startKfake(nodes int) (*kfakeCluster, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(nodes))
	if err != nil {
		return nil, fmt.Errorf("run: kfake: %w", err)
	}
	k := &kfakeCluster{c: c}
	for i, addr := range c.ListenAddrs() {
		k.nodes = append(k.nodes, cluster.Node{ID: int32(i), Addr: addr})
	}
	return k, nil
}

// noProcessControl marks drivers whose nodes cannot be stopped or started.
type noProcessControl interface{ noProcessControl() }

func (k *kfakeCluster) noProcessControl() {}

func (k *kfakeCluster) Nodes() []cluster.Node { return k.nodes }
func (k *kfakeCluster) Bootstrap() string     { return strings.Join(k.c.ListenAddrs(), ",") }

func (k *kfakeCluster) node(id int32) error {
	if id < 0 || int(id) >= len(k.nodes) {
		return fmt.Errorf("%w: %d", cluster.ErrUnknownNode, id)
	}
	return nil
}

func (k *kfakeCluster) unavailable(verb string, id int32) error {
	if err := k.node(id); err != nil {
		return err
	}
	return fmt.Errorf("%w: kfake runs in process: cannot %s node %d", cluster.ErrUnavailable, verb, id)
}

func (k *kfakeCluster) Start(_ context.Context, id int32) error  { return k.node(id) }
func (k *kfakeCluster) Resume(_ context.Context, id int32) error { return k.node(id) }
func (k *kfakeCluster) Stop(_ context.Context, id int32) error   { return k.unavailable("stop", id) }
func (k *kfakeCluster) Kill(_ context.Context, id int32) error   { return k.unavailable("kill", id) }
func (k *kfakeCluster) Pause(_ context.Context, id int32) error  { return k.unavailable("pause", id) }
func (k *kfakeCluster) Restart(_ context.Context, id int32) error {
	return k.unavailable("restart", id)
}

func (k *kfakeCluster) admin() (*kadm.Client, func(), error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.c.ListenAddrs()...))
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

func (k *kfakeCluster) Leaders(ctx context.Context) (map[cluster.TopicPartition]int32, error) {
	adm, done, err := k.admin()
	if err != nil {
		return nil, err
	}
	defer done()
	md, err := adm.Metadata(ctx)
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

func (k *kfakeCluster) ActiveController(ctx context.Context) (int32, error) {
	adm, done, err := k.admin()
	if err != nil {
		return -1, err
	}
	defer done()
	md, err := adm.Metadata(ctx)
	if err != nil {
		return -1, err
	}
	return md.Controller, nil
}

func (k *kfakeCluster) Logs(int32) string { return "(kfake runs in the harness process)" }

func (k *kfakeCluster) Close(context.Context) error {
	done := make(chan struct{})
	go func() { k.c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("run: kfake did not close within 30s")
	}
	return nil
}
