package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

// findCoordinator asks node id directly which node coordinates group.
func (c *testCluster) findCoordinator(ctx context.Context, id int32, group string) (int32, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr(id)))
	if err != nil {
		return -1, err
	}
	defer cl.Close()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = group
	req.CoordinatorKeys = []string{group}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(rctx, req)
	if err != nil {
		return -1, err
	}
	r := resp.(*kmsg.FindCoordinatorResponse)
	if len(r.Coordinators) == 1 {
		co := r.Coordinators[0]
		if err := kerr.ErrorForCode(co.ErrorCode); err != nil {
			return -1, err
		}
		return co.NodeID, nil
	}
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return -1, err
	}
	return r.NodeID, nil
}

// consumeGroup polls every client until want distinct values are seen
// (values are record numbers) and fails on a value outside [from, from+want).
func consumeGroup(ctx context.Context, t *testing.T, cls []*kgo.Client, from, want int) {
	t.Helper()
	var mu sync.Mutex
	seen := map[int]int{}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, cl := range cls {
		wg.Go(func() {
			for {
				fs := cl.PollFetches(cctx)
				if cctx.Err() != nil {
					return
				}
				mu.Lock()
				fs.EachRecord(func(r *kgo.Record) {
					v, _ := strconv.Atoi(string(r.Value))
					seen[v]++
				})
				done := len(seen) >= want
				mu.Unlock()
				if done {
					return
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < want {
		t.Fatalf("group consumed %d of %d records: %v", len(seen), want, cctx.Err())
	}
	for v, n := range seen {
		if v < from || v >= from+want {
			t.Errorf("record %d consumed, want only [%d, %d)", v, from, from+want)
		}
		if n > 1 {
			t.Errorf("record %d consumed %d times", v, n)
		}
	}
}

// Consumer groups in cluster mode: __consumer_offsets is created through
// the controller (RF 3) and replicated; a 2-member group consumes an RF-3
// topic and commits; kadm FetchOffsets shows the commits; closing the
// coordinator's node moves the group to the new leader of its partition,
// where a new member resumes exactly after the commits.
func TestClusterConsumerGroups(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const (
		topic       = "orders"
		group       = "billing"
		partitions  = 3
		first, more = 90, 30
		offsetParts = 5
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := newTestCluster(t)
	c.extra = []string{"offsets.topic.num.partitions", strconv.Itoa(offsetParts), "group.initial.rebalance.delay.ms", "0"}
	defer c.close()
	for id := int32(1); id <= 3; id++ {
		c.start(id)
	}
	seeds := []string{c.addr(1), c.addr(2), c.addr(3)}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	eventually(ctx, t, "create topic", func() error {
		_, err := adm.CreateTopic(ctx, partitions, 3, nil, topic)
		if errors.Is(err, kerr.TopicAlreadyExists) {
			return nil
		}
		return err
	})
	// Compacted, as Kafka creates it.
	eventually(ctx, t, offsetsTopic+" is compacted", func() error {
		rcs, err := adm.DescribeTopicConfigs(ctx, offsetsTopic)
		if err != nil {
			return err
		}
		rc, err := rcs.On(offsetsTopic, nil)
		if err != nil {
			return err
		}
		for _, cfg := range rc.Configs {
			if cfg.Key == "cleanup.policy" && cfg.MaybeValue() == "compact" {
				return nil
			}
		}
		return fmt.Errorf("%s configs %v: no cleanup.policy=compact", offsetsTopic, rc.Configs)
	})
	var coordinator int32
	eventually(ctx, t, "every node names the group's coordinator", func() error {
		resp, err := c.metadata(ctx, 1, offsetsTopic)
		if err != nil {
			return err
		}
		ls, reps, err := leadersOf(resp, offsetParts)
		if err != nil {
			return err
		}
		p := GroupPartition(group, offsetParts)
		if len(reps[p]) != 3 {
			return fmt.Errorf("%s-%d replicas %v", offsetsTopic, p, reps[p])
		}
		for id := int32(1); id <= 3; id++ {
			co, err := c.findCoordinator(ctx, id, group)
			if err != nil {
				return fmt.Errorf("node %d: %w", id, err)
			}
			if co != ls[p] {
				return fmt.Errorf("node %d names %d, leader of %s-%d is %d", id, co, offsetsTopic, p, ls[p])
			}
		}
		coordinator = ls[p]
		return nil
	})

	newMember := func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.DisableAutoCommit(), kgo.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	m1, m2 := newMember(), newMember()
	defer m1.Close()
	defer m2.Close()
	eventually(ctx, t, "two members, stable", func() error {
		ds, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return err
		}
		d := ds[group]
		if d.Err != nil {
			return d.Err
		}
		if d.State != "Stable" || len(d.Members) != 2 {
			return fmt.Errorf("state %s, %d members", d.State, len(d.Members))
		}
		return nil
	})

	pcl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	produce := func(from, n int) {
		var rs []*kgo.Record
		for i := from; i < from+n; i++ {
			rs = append(rs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
		}
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := pcl.ProduceSync(pctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	produce(0, first)
	consumeGroup(ctx, t, []*kgo.Client{m1, m2}, 0, first)
	for _, m := range []*kgo.Client{m1, m2} {
		if err := m.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	checkCommits := func(what string, adm *kadm.Client) {
		t.Helper()
		eventually(ctx, t, what, func() error {
			fo, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				return err
			}
			var errs []error
			ends.Each(func(e kadm.ListedOffset) {
				o, ok := fo.Lookup(e.Topic, e.Partition)
				if !ok && e.Offset == 0 {
					return // nothing consumed, nothing committed
				}
				if !ok || o.Err != nil || o.At != e.Offset {
					errs = append(errs, fmt.Errorf("%s-%d: committed %+v, end %d", e.Topic, e.Partition, o, e.Offset))
				}
			})
			return errors.Join(errs...)
		})
	}
	checkCommits("FetchOffsets shows the commits", adm)
	m1.Close()
	m2.Close()

	c.stopNode(coordinator)
	var survivor int32 = 1
	if coordinator == 1 {
		survivor = 2
	}
	eventually(ctx, t, "the coordinator moves", func() error {
		resp, err := c.metadata(ctx, survivor, offsetsTopic)
		if err != nil {
			return err
		}
		ls, _, err := leadersOf(resp, offsetParts)
		if err != nil {
			return err
		}
		p := GroupPartition(group, offsetParts)
		co, err := c.findCoordinator(ctx, survivor, group)
		if err != nil {
			return err
		}
		if co == coordinator || co != ls[p] {
			return fmt.Errorf("coordinator %d, leader of %s-%d %d", co, offsetsTopic, p, ls[p])
		}
		return nil
	})
	// A fresh client: the old one may keep the closed node in its
	// metadata for a while.
	var live []string
	for id := int32(1); id <= 3; id++ {
		if id != coordinator {
			live = append(live, c.addr(id))
		}
	}
	adm2Cl, err := kgo.NewClient(kgo.SeedBrokers(live...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm2Cl.Close()
	checkCommits("FetchOffsets shows the commits on the new coordinator", kadm.NewClient(adm2Cl))
	seeds = live

	produce(first, more)
	m3 := newMember()
	defer m3.Close()
	consumeGroup(ctx, t, []*kgo.Client{m3}, first, more)
	// Nothing else arrives: nothing before the commits is re-read.
	qctx, qcancel := context.WithTimeout(ctx, time.Second)
	defer qcancel()
	fs := m3.PollFetches(qctx)
	fs.EachRecord(func(r *kgo.Record) { t.Errorf("extra record %s-%d@%d %q", r.Topic, r.Partition, r.Offset, r.Value) })
}
