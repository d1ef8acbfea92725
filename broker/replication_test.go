package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

// partitionLog reads node id's whole local log of topic-0 in-process.
func (c *testCluster) partitionLog(id int32, topic string) (end int64, data []byte, err error) {
	c.mu.Lock()
	rb := c.nodes[id]
	c.mu.Unlock()
	t, ok := rb.b.catalog.Get(topic)
	if !ok || t.Partition(0) == nil {
		return 0, nil, fmt.Errorf("node %d does not host %s-0", id, topic)
	}
	l := t.Partition(0).Log
	end = l.EndOffset()
	data, err = l.Read(l.StartOffset(), 64<<20, end)
	return end, data, err
}

func (c *testCluster) running() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []int32
	for id := int32(1); id <= 3; id++ {
		if c.nodes[id] != nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// leaderOf is partition 0's leader as node id's metadata says.
func (c *testCluster) leaderOf(ctx context.Context, id int32, topic string) (int32, error) {
	resp, err := c.metadata(ctx, id, topic)
	if err != nil {
		return -1, err
	}
	ls, _, err := leadersOf(resp, 1)
	if err != nil {
		return -1, err
	}
	return ls[0], nil
}

func produceN(ctx context.Context, cl *kgo.Client, topic string, from, n int) error {
	var rs []*kgo.Record
	for i := from; i < from+n; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(strconv.Itoa(i))})
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return cl.ProduceSync(pctx, rs...).FirstErr()
}

// Followers replicate: an idempotent acks=all producer's 500 records are
// acknowledged once min.insync.replicas=2 replicas have them, every
// replica holds the same batches, the acknowledged records survive
// closing the leader, acks=all keeps working with two brokers and is
// refused (while acks=1 is not) with one.
func TestClusterReplication(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const topic = "replicated"
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	c, seeds, leader, closeAll := startReplicatedTopic(ctx, t, topic)
	defer closeAll()

	pcl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0), kgo.MaxBufferedRecords(50))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	if err := produceN(ctx, pcl, topic, 0, 500); err != nil {
		t.Fatalf("acks=all produce of 500: %v", err)
	}
	// Acknowledged means on min.insync.replicas replicas already, not later.
	holding := 0
	for id := int32(1); id <= 3; id++ {
		if end, _, err := c.partitionLog(id, topic); err == nil && end == 500 {
			holding++
		}
	}
	if holding < 2 {
		t.Fatalf("500 records acknowledged with acks=all but only %d replicas hold them", holding)
	}

	eventually(ctx, t, "every replica holds the same 500 records", func() error {
		end0, data0, err := c.partitionLog(1, topic)
		if err != nil {
			return err
		}
		if end0 != 500 {
			return fmt.Errorf("node 1 log ends at %d", end0)
		}
		for _, id := range []int32{2, 3} {
			end, data, err := c.partitionLog(id, topic)
			if err != nil {
				return err
			}
			if end != end0 || !bytes.Equal(data, data0) {
				return fmt.Errorf("node %d: log end %d, %d bytes; node 1: %d, %d bytes", id, end, len(data), end0, len(data0))
			}
		}
		return nil
	})

	c.stopNode(leader)
	var survivors []int32
	for _, id := range []int32{1, 2, 3} {
		if id != leader {
			survivors = append(survivors, id)
		}
	}
	eventually(ctx, t, "a new leader from the ISR", func() error {
		l, err := c.leaderOf(ctx, survivors[0], topic)
		if err == nil && l == leader {
			err = fmt.Errorf("still led by closed node %d", leader)
		}
		return err
	})
	consumeAll(ctx, t, []string{c.addr(survivors[0]), c.addr(survivors[1])}, topic, 500)

	if err := produceN(ctx, pcl, topic, 500, 100); err != nil {
		t.Fatalf("acks=all with two brokers (min.insync.replicas 2): %v", err)
	}

	// Close the survivor that is not the quorum leader, so the last node
	// keeps the committed image (the ISR without the closed node).
	last, gone := survivors[0], survivors[1]
	c.mu.Lock()
	if c.nodes[survivors[1]].b.cluster.ControllerID() == survivors[1] {
		last, gone = survivors[1], survivors[0]
	}
	c.mu.Unlock()
	c.stopNode(gone)
	eventually(ctx, t, fmt.Sprintf("node %d leads alone", last), func() error {
		l, err := c.leaderOf(ctx, last, topic)
		if err == nil && l != last {
			err = fmt.Errorf("led by %d", l)
		}
		return err
	})
	one := []string{c.addr(last)}
	allCl, err := kgo.NewClient(kgo.SeedBrokers(one...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(2), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer allCl.Close()
	if err := produceN(ctx, allCl, topic, 600, 1); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all with one broker: got %v, want NOT_ENOUGH_REPLICAS", err)
	}
	oneCl, err := kgo.NewClient(kgo.SeedBrokers(one...), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer oneCl.Close()
	if err := produceN(ctx, oneCl, topic, 601, 1); err != nil {
		t.Fatalf("acks=1 with one broker: %v", err)
	}
}

// consumeAll reads partition 0 from the start until it has n distinct
// values 0..n-1.
func consumeAll(ctx context.Context, t *testing.T, seeds []string, topic string, n int) {
	t.Helper()
	ccl, err := kgo.NewClient(kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer ccl.Close()
	seen := map[string]bool{}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for len(seen) < n {
		fs := ccl.PollFetches(cctx)
		if cctx.Err() != nil {
			t.Fatalf("consumed %d of %d acknowledged records: %v", len(seen), n, cctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	for i := range n {
		if !seen[strconv.Itoa(i)] {
			t.Errorf("acknowledged record %d lost", i)
		}
	}
}

// startReplicatedTopic starts three brokers and creates topic with one
// partition, replication factor 3 and min.insync.replicas 2, returning the
// partition's leader. closeAll stops the admin client and the brokers; it is
// returned rather than registered with t.Cleanup so the caller's goleak
// check runs after it.
func startReplicatedTopic(ctx context.Context, t *testing.T, topic string) (c *testCluster, seeds []string, leader int32, closeAll func()) {
	t.Helper()
	return startReplicatedTopicWith(ctx, t, topic, nil)
}

// startReplicatedTopicWith is startReplicatedTopic with more broker
// properties (key, value, ...) for every node.
func startReplicatedTopicWith(ctx context.Context, t *testing.T, topic string, extra []string) (c *testCluster, seeds []string, leader int32, closeAll func()) {
	t.Helper()
	c = newTestCluster(t)
	c.extra = extra
	for id := int32(1); id <= 3; id++ {
		c.start(id)
	}
	seeds = []string{c.addr(1), c.addr(2), c.addr(3)}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		c.close()
		t.Fatal(err)
	}
	closeAll = func() { admCl.Close(); c.close() }
	adm := kadm.NewClient(admCl)
	minISR := "2"
	eventually(ctx, t, "create topic", func() error {
		_, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &minISR}, topic)
		if errors.Is(err, kerr.TopicAlreadyExists) {
			return nil
		}
		return err
	})
	eventually(ctx, t, "partition 0 has a leader", func() error {
		l, err := c.leaderOf(ctx, 1, topic)
		leader = l
		return err
	})
	return c, seeds, leader, closeAll
}
