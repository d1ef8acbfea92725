package metaserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/metadata"
)

func createTopic(t *testing.T, c *cluster, via *Server, name string, parts int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Ask a given node first; a non-leader answers NOT_CONTROLLER naming
	// the leader, and onLeader follows it.
	first := true
	err := onLeader(ctx, c, func(s *Server) error {
		if first {
			s, first = via, false
		}
		res, err := s.CreateTopics(ctx, []controller.CreateTopic{{Name: name, NumPartitions: parts, ReplicationFactor: 3}})
		if err != nil {
			return err
		}
		if res[0].Err != nil {
			return fmt.Errorf("create %s: %w", name, res[0].Err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rackAware: every partition's replicas sit on three different racks.
func rackAware(img metadata.Image, name string) error {
	tp, ok := img.TopicByName(name)
	if !ok {
		return fmt.Errorf("no topic %s", name)
	}
	for i, p := range tp.Partitions {
		seen := map[string]bool{}
		for _, r := range p.Replicas {
			b, _ := img.Broker(r)
			seen[b.Rack] = true
		}
		if len(seen) != 3 {
			return fmt.Errorf("partition %d replicas %v on racks %v", i, p.Replicas, seen)
		}
	}
	return nil
}

func TestClusterFailoverOverTCP(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: 3, snapshotEvery: 16})
	eventually(t, 10*time.Second, "all brokers registered and unfenced", allUnfenced(c, 1, 2, 3))

	// CreateTopics sent to a node that does not lead reaches the leader.
	leader := c.server(1).Leader()
	via := c.server(1)
	if leader == 1 {
		via = c.server(2)
	}
	createTopic(t, c, via, "orders", 6)
	eventually(t, 5*time.Second, "every image has the rack-aware topic", func() error {
		for _, s := range c.running() {
			if err := rackAware(s.State().Image, "orders"); err != nil {
				return fmt.Errorf("node %d: %w", s.NodeID(), err)
			}
		}
		return nil
	})
	before, _ := c.server(via.NodeID()).State().Image.TopicByName("orders")

	// Stop the raft leader (its broker too): a new active controller takes
	// over, fences the silent broker after the session timeout and moves
	// its leaderships to other ISR members with bumped epochs.
	old := c.server(1).Leader()
	c.stop(old)
	eventually(t, 10*time.Second, "new leader, old broker fenced, leaderships moved", func() error {
		for _, s := range c.running() {
			if l := s.Leader(); l == old || l < 0 {
				return fmt.Errorf("node %d sees leader %d", s.NodeID(), l)
			}
			img := s.State().Image
			b, _ := img.Broker(old)
			if !b.Fenced {
				return fmt.Errorf("node %d: broker %d not fenced", s.NodeID(), old)
			}
			tp, _ := img.TopicByName("orders")
			for i, p := range tp.Partitions {
				was := before.Partitions[i]
				if p.Leader == old || slices.Contains(p.ISR, old) {
					return fmt.Errorf("node %d: partition %d still has %d: %+v", s.NodeID(), i, old, p)
				}
				if was.Leader == old && (p.LeaderEpoch <= was.LeaderEpoch || !slices.Contains(was.ISR, p.Leader)) {
					return fmt.Errorf("node %d: partition %d leader %d epoch %d (was %d epoch %d isr %v)",
						s.NodeID(), i, p.Leader, p.LeaderEpoch, was.Leader, was.LeaderEpoch, was.ISR)
				}
			}
		}
		return nil
	})

	// Restart it: it replays its log, re-registers and is unfenced.
	c.start(old)
	eventually(t, 10*time.Second, "restarted broker unfenced everywhere", allUnfenced(c, 1, 2, 3))
	eventually(t, 5*time.Second, "restarted node's image caught up", func() error {
		want := c.server(c.server(old).Leader())
		if want == nil {
			return errors.New("no leader")
		}
		got := c.server(old).State()
		if w := want.State(); w.Offset != got.Offset || !metadata.Equal(w.Image, got.Image) {
			return fmt.Errorf("node %d at %d, leader at %d", old, got.Offset, w.Offset)
		}
		return nil
	})

	testAlterPartitionOverWire(t, c)
}

// testAlterPartitionOverWire: the leader of a partition shrinks and
// expands its ISR through the Client; requests at stale epochs are fenced.
func testAlterPartitionOverWire(t *testing.T, c *cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	img := c.running()[0].State().Image
	tp, _ := img.TopicByName("orders")
	var pid int32 = -1
	var p metadata.Partition
	for i, q := range tp.Partitions {
		if q.Leader != metadata.NoLeader && len(q.ISR) >= 2 {
			pid, p = int32(i), q
			break
		}
	}
	if pid < 0 {
		t.Fatalf("no partition with a follower in its ISR: %+v", tp.Partitions)
	}
	leaderBroker, _ := img.Broker(p.Leader)
	cl := NewClient(ClientConfig{Voters: c.voters, RetryBackoff: 20 * time.Millisecond})
	defer cl.Close()

	var follower int32
	for _, r := range p.ISR {
		if r != p.Leader {
			follower = r
			break
		}
	}
	shrunk := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return r == follower })
	res, err := cl.AlterPartition(ctx, p.Leader, leaderBroker.Epoch, []controller.AlterPartitionItem{{TopicID: tp.ID, PartitionID: pid,
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: shrunk}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("shrink: %v %+v", err, res)
	}
	if got := res[0]; !slices.Equal(sortedIDs(got.ISR), sortedIDs(shrunk)) || got.PartitionEpoch != p.PartitionEpoch+1 || got.LeaderEpoch != p.LeaderEpoch {
		t.Fatalf("shrink answered %+v", got)
	}
	// The same request again is at a stale partition epoch.
	res, err = cl.AlterPartition(ctx, p.Leader, leaderBroker.Epoch, []controller.AlterPartitionItem{{TopicID: tp.ID, PartitionID: pid,
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: p.ISR}})
	if err != nil || !errors.Is(res[0].Err, controller.ErrInvalidUpdateVersion) {
		t.Fatalf("stale partition epoch: %v %+v", err, res)
	}
	// An older leader epoch is fenced.
	if p.LeaderEpoch > 0 {
		res, err = cl.AlterPartition(ctx, p.Leader, leaderBroker.Epoch, []controller.AlterPartitionItem{{TopicID: tp.ID, PartitionID: pid,
			LeaderEpoch: p.LeaderEpoch - 1, PartitionEpoch: p.PartitionEpoch + 1, ISR: p.ISR}})
		if err != nil || !errors.Is(res[0].Err, controller.ErrFencedLeaderEpoch) {
			t.Fatalf("stale leader epoch: %v %+v", err, res)
		}
	}
	// A stale broker epoch is refused as a whole.
	if _, err = cl.AlterPartition(ctx, p.Leader, leaderBroker.Epoch-1, nil); !errors.Is(err, controller.ErrStaleBrokerEpoch) {
		t.Fatalf("stale broker epoch: %v", err)
	}
	// Expand to every replica (the restarted broker included).
	res, err = cl.AlterPartition(ctx, p.Leader, leaderBroker.Epoch, []controller.AlterPartitionItem{{TopicID: tp.ID, PartitionID: pid,
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch + 1, ISR: p.Replicas}})
	if err != nil || res[0].Err != nil || len(res[0].ISR) != 3 || res[0].PartitionEpoch != p.PartitionEpoch+2 {
		t.Fatalf("expand: %v %+v", err, res)
	}
	eventually(t, 5*time.Second, "every image has the expanded ISR", func() error {
		for _, s := range c.running() {
			q, _ := s.State().Image.Partition(tp.ID, pid)
			if len(q.ISR) != 3 || q.PartitionEpoch != p.PartitionEpoch+2 {
				return fmt.Errorf("node %d: %+v", s.NodeID(), q)
			}
		}
		return nil
	})
}

func sortedIDs(ids []int32) []int32 { s := slices.Clone(ids); slices.Sort(s); return s }
