package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

// kill stops node id without controlled shutdown, as kill -9 would leave
// the cluster: its heartbeats just stop, the controller fences it after
// broker.session.timeout.ms and moves its leaderships then.
func (c *testCluster) kill(id int32) {
	c.mu.Lock()
	rb := c.nodes[id]
	c.mu.Unlock()
	cn := rb.b.cluster
	cn.pidMu.Lock()
	lc := cn.lc
	cn.lc = nil
	cn.pidMu.Unlock()
	if lc != nil {
		lc.Stop()
	}
	c.stopNode(id)
}

// A restarted node replays a metadata log that still names it leader of
// partitions that moved while it was down; it must not act on that stale
// image (serve as leader with its old high watermark) before it has caught
// up with the quorum, i.e. applied its own new registration (KRaft's
// catch-up before unfencing). Probed from the moment its listener is up.
// Once all are back, the automatic leader rebalance returns the partition
// to its preferred replica.
func TestClusterRestartedNodeCatchesUpBeforeLeading(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	// Bounds the whole test: it restarts every node and waits for a
	// rebalance, which took 64 s on a machine at load 19.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "catchup"
	// A leader imbalance check every second: the preferred replica gets its
	// leadership back once it is in sync again (auto.leader.rebalance.enable).
	c, seeds, leader, closeAll := startReplicatedTopicWith(ctx, t, topic, []string{"leader.imbalance.check.interval.seconds", "1"})
	defer closeAll()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := produceN(ctx, cl, topic, 0, 50); err != nil {
		t.Fatal(err)
	}
	var topicID [16]byte
	resp, err := c.metadata(ctx, leader, topic)
	if err != nil {
		t.Fatal(err)
	}
	topicID = resp.Topics[0].TopicID

	c.kill(leader)
	var other int32 = 1
	for other == leader {
		other++
	}
	eventually(ctx, t, "a new leader", func() error {
		l, err := c.leaderOf(ctx, other, topic)
		if err == nil && l == leader {
			err = fmt.Errorf("still led by killed node %d", l)
		}
		return err
	})
	const acked = 150
	if err := produceN(ctx, cl, topic, 50, acked-50); err != nil {
		t.Fatal(err)
	}

	// The others go down too, so the restarted node cannot reach the
	// quorum at all: its replayed image is stale for as long as this lasts.
	for id := int32(1); id <= 3; id++ {
		if id != leader {
			c.kill(id)
		}
	}
	c.start(leader)
	addr := c.addr(leader)
	probe := func(d time.Duration) (answered int) {
		for deadline := time.Now().Add(d); time.Now().Before(deadline); {
			latest, fetchHW, ok, err := hwProbe(ctx, addr, topic, topicID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			answered++
			if latest < acked || fetchHW < acked {
				t.Fatalf("restarted node answered as leader with latest %d, fetch high watermark %d < %d acknowledged", latest, fetchHW, acked)
			}
		}
		return answered
	}
	if n := probe(2 * time.Second); n != 0 {
		t.Fatalf("a node cut off from the quorum answered %d times as leader", n)
	}
	// Its Metadata names no leader either, so clients ask elsewhere.
	if md, err := c.metadata(ctx, leader, topic); err != nil {
		t.Fatal(err)
	} else if p := md.Topics[0].Partitions[0]; p.Leader != -1 || p.ErrorCode != kerr.LeaderNotAvailable.Code {
		t.Fatalf("node not caught up: Metadata leader %d, error %d; want -1, LEADER_NOT_AVAILABLE", p.Leader, p.ErrorCode)
	}
	for id := int32(1); id <= 3; id++ {
		if id != leader {
			c.start(id)
		}
	}
	// Caught up, it serves again: every acknowledged record is there.
	consumeAll(ctx, t, []string{addr}, topic, acked)
	eventually(ctx, t, "automatic preferred-leader rebalance", func() error {
		l, _, replicas, err := c.partitionZero(ctx, leader, topic)
		if err == nil && (len(replicas) == 0 || l != replicas[0]) {
			err = fmt.Errorf("leader %d, preferred %v", l, replicas)
		}
		return err
	})
}
