package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestResolveClusterKeys(t *testing.T) {
	base := map[string]string{"process.roles": "broker,controller", "controller.quorum.voters": "1@127.0.0.1:9093"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cs, err := resolveCluster(base, 1)
	if err != nil {
		t.Fatal(err)
	}
	if cs.replicaLagTimeMax != 30*time.Second || !cs.autoRebalance || cs.imbalanceCheckInterval != 300*time.Second ||
		cs.imbalancePercentage != 10 || cs.rackAwareSelector {
		t.Fatalf("defaults: %+v", cs)
	}
	cs, err = resolveCluster(with("replica.lag.time.max.ms", "1500", "auto.leader.rebalance.enable", "false",
		"leader.imbalance.check.interval.seconds", "5", "leader.imbalance.per.broker.percentage", "0",
		"replica.selector.class", rackAwareSelectorClass), 1)
	if err != nil {
		t.Fatal(err)
	}
	if cs.replicaLagTimeMax != 1500*time.Millisecond || cs.autoRebalance || cs.imbalanceCheckInterval != 5*time.Second ||
		cs.imbalancePercentage != 0 || !cs.rackAwareSelector {
		t.Fatalf("set: %+v", cs)
	}
	for _, bad := range [][]string{
		{"replica.lag.time.max.ms", "0"},
		{"auto.leader.rebalance.enable", "yes"},
		{"leader.imbalance.check.interval.seconds", "-1"},
		{"leader.imbalance.per.broker.percentage", "101"},
		{"replica.selector.class", "com.example.Mine"},
	} {
		if _, err := resolveCluster(with(bad...), 1); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: err %v, want one naming the key", bad, err)
		}
	}
}

// metric is the metric of family name in node id's registry carrying
// label=value, or with label "" the family's only metric; nil if none.
func (c *testCluster) metric(id int32, name, label, value string) *dto.Metric {
	c.mu.Lock()
	rb := c.nodes[id]
	c.mu.Unlock()
	fams, err := rb.b.metrics.Registry().Gather()
	if err != nil {
		c.t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		if label == "" {
			if len(f.Metric) == 1 {
				return f.Metric[0]
			}
			return nil
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == label && l.GetValue() == value {
					return m
				}
			}
		}
	}
	return nil
}

// only is the unlabelled metric name of node id's registry.
func (c *testCluster) only(id int32, name string) *dto.Metric {
	m := c.metric(id, name, "", "")
	if m == nil {
		c.t.Fatalf("no metric %s", name)
	}
	return m
}

// counter is the value of an unlabelled counter in node id's registry.
func (c *testCluster) counter(id int32, name string) float64 {
	return c.only(id, name).GetCounter().GetValue()
}

// gauge is the value of an unlabelled gauge in node id's registry.
func (c *testCluster) gauge(id int32, name string) float64 {
	return c.only(id, name).GetGauge().GetValue()
}

// stall ends node id's Run (its serving, replication fetchers and tick
// loop) but not its metadata lifecycle: it keeps heartbeating, so it stays
// unfenced while fetching nothing, a stuck follower. stopNode finishes it.
func (c *testCluster) stall(id int32) {
	c.mu.Lock()
	rb := c.nodes[id]
	c.mu.Unlock()
	rb.stop()
	err := <-rb.ran
	rb.ran <- err
}

// isrOf is partition 0's ISR as node id's metadata says.
func (c *testCluster) isrOf(ctx context.Context, id int32, topic string) ([]int32, error) {
	resp, err := c.metadata(ctx, id, topic)
	if err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("no partition 0 in %+v", resp.Topics)
	}
	isr := slices.Clone(resp.Topics[0].Partitions[0].ISR)
	slices.Sort(isr)
	return isr, nil
}

// isrSize is nil once partition 0's ISR has n members as node id's
// metadata says.
func (c *testCluster) isrSize(ctx context.Context, id int32, topic string, n int) error {
	isr, err := c.isrOf(ctx, id, topic)
	if err == nil && len(isr) != n {
		err = fmt.Errorf("isr %v", isr)
	}
	return err
}

// leaderIs is nil once node id's metadata names want partition 0's leader.
func (c *testCluster) leaderIs(ctx context.Context, id int32, topic string, want int32) error {
	l, err := c.leaderOf(ctx, id, topic)
	if err == nil && l != want {
		err = fmt.Errorf("leader %d", l)
	}
	return err
}

// createAssigned creates topic with partition 0 on replicas and the given
// configs through node via() (asked again on every attempt), until it
// exists.
func (c *testCluster) createAssigned(ctx context.Context, t *testing.T, what string, via func() int32, topic string,
	replicas []int32, configs ...[2]string) {
	t.Helper()
	eventually(ctx, t, what, func() error {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = 0, replicas
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		for _, kv := range configs {
			cfg := kmsg.NewCreateTopicsRequestTopicConfig()
			cfg.Name, cfg.Value = kv[0], kmsg.StringPtr(kv[1])
			rt.Configs = append(rt.Configs, cfg)
		}
		req.Topics, req.TimeoutMillis = append(req.Topics, rt), 5000
		resp, err := c.request(ctx, via(), req)
		if err != nil {
			return err
		}
		if code := resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; code != 0 && code != 36 { // TOPIC_ALREADY_EXISTS
			return fmt.Errorf("error code %d", code)
		}
		return nil
	})
}

// replica.lag.time.max.ms comes from the configuration: a follower that
// stops fetching but keeps heartbeating (so the controller does not fence
// it) leaves the ISR after it, well before broker.session.timeout.ms
// would matter, and the leader counts the shrink; a restarted follower
// catches up and the leader counts the expansion.
func TestClusterReplicaLagFromConfigAndISRMetrics(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "lagging"
	c, seeds, leader, closeAll := startReplicatedTopicWith(ctx, t, topic, []string{"replica.lag.time.max.ms", "1000"})
	defer closeAll()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := produceN(ctx, cl, topic, 0, 20); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "ISR of 3", func() error { return c.isrSize(ctx, leader, topic, 3) })
	shrinks0, expands0 := c.counter(leader, "kafka_server_replicamanager_isrshrinks_total"),
		c.counter(leader, "kafka_server_replicamanager_isrexpands_total")
	follower := int32(1)
	for follower == leader {
		follower++
	}
	stalledAt := time.Now()
	c.stall(follower)
	// A follower at the log end is in sync however long it is silent
	// (Kafka's rule); new records make it lag. acks=all completes once the
	// ISR shrank.
	if err := produceN(ctx, cl, topic, 20, 5); err != nil {
		t.Fatal(err)
	}
	lagCtx, lagCancel := context.WithTimeout(ctx, clusterSessionTimeout)
	defer lagCancel()
	eventually(lagCtx, t, "stalled follower leaves the ISR within the session timeout", func() error {
		isr, err := c.isrOf(lagCtx, leader, topic)
		if err == nil && slices.Contains(isr, follower) {
			err = fmt.Errorf("isr %v", isr)
		}
		return err
	})
	t.Logf("follower %d left the ISR %v after stalling", follower, time.Since(stalledAt))
	// The partition gauges follow the cluster: the leader reports its
	// under-replicated partition, one node is the active controller, and
	// nothing is offline.
	eventually(ctx, t, "cluster gauges", func() error {
		if n := c.gauge(leader, "kafka_server_replicamanager_underreplicatedpartitions"); n < 1 {
			return fmt.Errorf("leader: UnderReplicatedPartitions %v", n)
		}
		if n := c.gauge(leader, "kafka_server_replicamanager_leadercount"); n < 1 {
			return fmt.Errorf("leader: LeaderCount %v", n)
		}
		active := 0.0
		for id := int32(1); id <= 3; id++ {
			if id == follower {
				continue // stalled: its registry is still there, but skip it
			}
			active += c.gauge(id, "kafka_controller_kafkacontroller_activecontrollercount")
			if n := c.gauge(id, "kafka_controller_kafkacontroller_offlinepartitionscount"); n != 0 {
				return fmt.Errorf("node %d: OfflinePartitionsCount %v", id, n)
			}
		}
		if active+c.gauge(follower, "kafka_controller_kafkacontroller_activecontrollercount") != 1 {
			return fmt.Errorf("ActiveControllerCount sums to %v", active)
		}
		return nil
	})
	eventually(ctx, t, "IsrShrinks counted", func() error {
		if got := c.counter(leader, "kafka_server_replicamanager_isrshrinks_total"); got < shrinks0+1 {
			return fmt.Errorf("IsrShrinks %v, want > %v", got, shrinks0)
		}
		return nil
	})
	c.stopNode(follower)
	if err := produceN(ctx, cl, topic, 25, 20); err != nil {
		t.Fatal(err)
	}
	c.start(follower)
	eventually(ctx, t, "restarted follower back in the ISR", func() error { return c.isrSize(ctx, leader, topic, 3) })
	eventually(ctx, t, "IsrExpands counted", func() error {
		if got := c.counter(leader, "kafka_server_replicamanager_isrexpands_total"); got < expands0+1 {
			return fmt.Errorf("IsrExpands %v, want > %v", got, expands0)
		}
		return nil
	})
}

// request sends req to node id directly.
func (c *testCluster) request(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr(id)))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return cl.SeedBrokers()[0].Request(rctx, req)
}

// unclean.leader.election.enable is honoured per topic, end to end: a
// partition whose only ISR member is gone stays leaderless while the
// topic forbids unclean elections, and the out-of-sync replica is elected
// as soon as a topic config change allows it.
func TestClusterUncleanElectionPerTopic(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const topic = "unclean"
	c := newTestCluster(t)
	defer c.close()
	for id := int32(1); id <= 3; id++ {
		c.start(id)
	}
	c.waitAllUp(ctx, t)
	c.createAssigned(ctx, t, "create topic on replicas 1,2", func() int32 { return c.controllerOf(ctx, 3) }, topic, []int32{1, 2},
		[2]string{"min.insync.replicas", "1"}, [2]string{"unclean.leader.election.enable", "false"})
	eventually(ctx, t, "leader 1", func() error { return c.leaderIs(ctx, 3, topic, 1) })
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr(1), c.addr(3)), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := produceN(ctx, cl, topic, 0, 5); err != nil {
		t.Fatal(err)
	}
	c.stopNode(2) // ISR {1}
	if err := produceN(ctx, cl, topic, 5, 5); err != nil {
		t.Fatal(err)
	}
	c.stopNode(1) // the last ISR member: leaderless; node 3 alone has no quorum
	c.start(2)
	eventually(ctx, t, "node 2 registered", func() error {
		resp, err := c.metadata(ctx, 3, "")
		if err == nil {
			if _, ok := brokersOf(resp)[2]; !ok {
				err = fmt.Errorf("brokers %v", brokersOf(resp))
			}
		}
		return err
	})
	time.Sleep(2 * time.Second) // the controller's ticks would have elected node 2 by now
	resp, err := c.metadata(ctx, 3, topic)
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.Topics[0].Partitions[0]; p.Leader != -1 {
		t.Fatalf("leader %d elected with unclean.leader.election.enable=false (isr %v)", p.Leader, p.ISR)
	}
	eventually(ctx, t, "allow unclean elections on the topic", func() error {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Value = "unclean.leader.election.enable", kmsg.StringPtr("true")
		r.Configs = append(r.Configs, cfg)
		req.Resources = append(req.Resources, r)
		resp, err := c.request(ctx, c.controllerOf(ctx, 3), req)
		if err != nil {
			return err
		}
		if code := resp.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode; code != 0 {
			return fmt.Errorf("error code %d", code)
		}
		return nil
	})
	eventually(ctx, t, "unclean election of node 2", func() error { return c.leaderIs(ctx, 3, topic, 2) })
}

// waitAllUp waits until node 1 lists all three brokers unfenced, so a
// topic created next gets its preferred leaders.
func (c *testCluster) waitAllUp(ctx context.Context, t *testing.T) {
	t.Helper()
	eventually(ctx, t, "three brokers unfenced", func() error {
		resp, err := c.metadata(ctx, 1, "")
		if err == nil && len(brokersOf(resp)) != 3 {
			err = fmt.Errorf("brokers %v", brokersOf(resp))
		}
		return err
	})
}

// controllerOf is the active controller as node id's metadata names it.
func (c *testCluster) controllerOf(ctx context.Context, id int32) int32 {
	resp, err := c.metadata(ctx, id, "")
	if err != nil || resp.ControllerID < 0 || c.running() == nil || !slices.Contains(c.running(), resp.ControllerID) {
		return id
	}
	return resp.ControllerID
}

// counterWith is a counter's value for one label set in node id's
// registry (0 when absent).
func (c *testCluster) counterWith(id int32, name, label, value string) float64 {
	return c.metric(id, name, label, value).GetCounter().GetValue() // nil-safe: 0
}

// KIP-392: with replica.selector.class=RackAwareReplicaSelector a
// consumer that sets client.rack az-b reads the partition led in az-a from
// the az-b replica, and gets every record.
func TestClusterFollowerFetchingByRack(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const topic = "racked"
	c := newTestCluster(t)
	c.extra = []string{"replica.selector.class", rackAwareSelectorClass}
	defer c.close()
	for id := int32(1); id <= 3; id++ {
		c.start(id)
	}
	c.waitAllUp(ctx, t)
	// Through node 1: forwarded when it is not the controller.
	c.createAssigned(ctx, t, "create topic led by node 1 (az-a)", func() int32 { return 1 }, topic, []int32{1, 2, 3})
	eventually(ctx, t, "leader 1, ISR of 3", func() error {
		if err := c.leaderIs(ctx, 2, topic, 1); err != nil {
			return err
		}
		return c.isrSize(ctx, 2, topic, 3)
	})
	seeds := []string{c.addr(1), c.addr(2), c.addr(3)}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	const n = 50
	if err := produceN(ctx, pcl, topic, 0, n); err != nil {
		t.Fatal(err)
	}
	ccl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.Rack("az-b"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer ccl.Close()
	seen := map[string]bool{}
	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	defer ccancel()
	for len(seen) < n {
		fs := ccl.PollFetches(cctx)
		if cctx.Err() != nil {
			t.Fatalf("consumed %d of %d: %v", len(seen), n, cctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	const bytesOut = "kafka_server_brokertopicmetrics_bytesout_total"
	if got := c.counterWith(2, bytesOut, "topic", topic); got == 0 {
		t.Fatalf("the az-b replica (node 2) sent no records of %s: the rack-aware consumer did not read from it", topic)
	}
	if got := c.counterWith(3, bytesOut, "topic", topic); got != 0 {
		t.Fatalf("the az-c replica (node 3) sent %v bytes of %s", got, topic)
	}
}
