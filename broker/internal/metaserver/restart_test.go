package metaserver

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/metadata"
	"github.com/highwater-io/highwater/broker/internal/quorum"
)

// sameEverywhere: every running node is at the same offset with equal
// images; returns that state.
func sameEverywhere(c *cluster) (*State, error) {
	rs := c.running()
	first := rs[0].State()
	for _, s := range rs[1:] {
		st := s.State()
		if st.Offset != first.Offset || !metadata.Equal(st.Image, first.Image) {
			return nil, fmt.Errorf("node %d at %d, node %d at %d", rs[0].NodeID(), first.Offset, s.NodeID(), st.Offset)
		}
	}
	return first, nil
}

func TestMetadataSurvivesRestartOfAllNodes(t *testing.T) {
	// A long session timeout: nothing is fenced while the nodes are down.
	c := newCluster(t, clusterOpts{nodes: 3, snapshotEvery: 8, sessionMs: 60_000})
	eventually(t, 10*time.Second, "all unfenced", allUnfenced(c, 1, 2, 3))
	for i := range 5 {
		createTopic(t, c, c.server(1), fmt.Sprintf("t%d", i), int32(i+1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := onLeader(ctx, c, func(s *Server) error {
		_, err := s.AlterConfigs(ctx, []controller.AlterConfig{{Resource: metadata.ConfigResource{Type: metadata.ResourceTopic, Name: "t2"},
			Ops: []controller.ConfigOp{{Key: "min.insync.replicas", Value: "2"}}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range c.voters {
		c.mu.Lock()
		lc := c.nodes[v.ID].lc
		c.nodes[v.ID].lc = nil
		c.mu.Unlock()
		lc.Stop()
	}
	var before *State
	eventually(t, 5*time.Second, "nodes agree", func() (err error) { before, err = sameEverywhere(c); return })
	for _, v := range c.voters {
		c.stop(v.ID)
	}
	c.opts.noLifecycles = true
	for _, v := range c.voters {
		c.start(v.ID)
	}
	eventually(t, 10*time.Second, "images equal after restart", func() error {
		for _, s := range c.running() {
			st := s.State()
			if st.Offset < before.Offset || !metadata.Equal(st.Image, before.Image) {
				return fmt.Errorf("node %d at %d (want ≥ %d), equal=%v", s.NodeID(), st.Offset, before.Offset, metadata.Equal(st.Image, before.Image))
			}
		}
		return nil
	})
	if v, _ := c.server(2).State().Image.ConfigValue(metadata.ConfigResource{Type: metadata.ResourceTopic, Name: "t2"}, "min.insync.replicas"); v != "2" {
		t.Fatalf("config lost: %q", v)
	}
}

func TestControlledShutdownMovesLeaderships(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: 3, sessionMs: 60_000})
	eventually(t, 10*time.Second, "all unfenced", allUnfenced(c, 1, 2, 3))
	createTopic(t, c, c.server(1), "cs", 6)
	eventually(t, 5*time.Second, "topic everywhere", func() error {
		for _, s := range c.running() {
			if _, ok := s.State().Image.TopicByName("cs"); !ok {
				return fmt.Errorf("node %d has no topic", s.NodeID())
			}
		}
		return nil
	})
	c.mu.Lock()
	lc := c.nodes[2].lc
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := lc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// Shutdown returns once the active controller committed the change;
	// node 1 (maybe a follower) applies it a moment later.
	eventually(t, 5*time.Second, "broker 2 fenced after controlled shutdown on node 1", func() error {
		b, _ := c.server(1).State().Image.Broker(2)
		if !b.Fenced || !b.InControlledShutdown {
			return fmt.Errorf("broker 2: %+v", b)
		}
		return nil
	})
	img := c.server(1).State().Image
	tp, _ := img.TopicByName("cs")
	for i, p := range tp.Partitions {
		if p.Leader == 2 || len(p.ISR) != 2 {
			t.Fatalf("partition %d still led by / in ISR with 2: %+v", i, p)
		}
	}
	if blk, err := c.server(c.server(1).Leader()).AllocateProducerIDs(ctx, 1, mustEpoch(t, img, 1)); err != nil || blk.Size != 1000 {
		t.Fatalf("producer ids: %+v %v", blk, err)
	}
}

func mustEpoch(t *testing.T, img metadata.Image, id int32) int64 {
	b, ok := img.Broker(id)
	if !ok {
		t.Fatalf("broker %d not registered", id)
	}
	return b.Epoch
}

// TestMemNetChaosPrefixConsistent runs three nodes over a lossy,
// duplicating, reordering in-memory network with partitions and leader
// isolation while topics are created through whoever leads; every node's
// images must agree at every offset two nodes both published, and all
// converge after healing.
func TestMemNetChaosPrefixConsistent(t *testing.T) {
	seed := time.Now().UnixNano()
	if v := os.Getenv("METASERVER_SEED"); v != "" {
		seed, _ = strconv.ParseInt(v, 10, 64)
	}
	t.Logf("seed %d (replay: METASERVER_SEED=%d go test -run TestMemNetChaosPrefixConsistent ./broker/internal/metaserver/; timing still varies)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	net := quorum.NewMemNet(seed, quorum.MemNetFaults{DropRate: 0.05, DupRate: 0.05, MaxDelay: 3 * time.Millisecond})
	c := newCluster(t, clusterOpts{nodes: 3, memnet: net, snapshotEvery: 16, sessionMs: 3000})

	rec := newRecorder()
	stopRec := make(chan struct{})
	var wg sync.WaitGroup
	for _, v := range c.voters {
		s := c.server(v.ID)
		wg.Go(func() { rec.watch(v.ID, s, stopRec) })
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	created := 0
	// 3 s of chaos; on a loaded machine, keep going (up to 12 s) until at
	// least one create got through, so the prefix check has something to
	// compare.
	deadline, hardDeadline := time.Now().Add(3*time.Second), time.Now().Add(12*time.Second)
	for i := 0; time.Now().Before(deadline) || (created == 0 && time.Now().Before(hardDeadline)); i++ {
		switch rng.Intn(6) {
		case 0:
			net.Isolate(uint64(1 + rng.Intn(3)))
		case 1:
			net.Partition([]uint64{uint64(1 + rng.Intn(3))})
		case 2, 3:
			net.Heal()
		}
		opCtx, opCancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := onLeader(opCtx, c, func(s *Server) error {
			res, err := s.CreateTopics(opCtx, []controller.CreateTopic{{Name: fmt.Sprintf("chaos-%d", i), NumPartitions: 2, ReplicationFactor: 1}})
			if err == nil && res[0].Err != nil && res[0].Err != controller.ErrTopicAlreadyExists {
				return res[0].Err
			}
			return err
		})
		opCancel()
		if err == nil {
			created++
		}
	}
	net.Heal()
	net.SetFaults(quorum.MemNetFaults{})
	var final *State
	eventually(t, 10*time.Second, "nodes converge after healing", func() (err error) { final, err = sameEverywhere(c); return })
	close(stopRec)
	wg.Wait()
	if err := rec.check(); err != nil {
		t.Fatal(err)
	}
	if created == 0 || len(final.Image.Topics()) == 0 {
		t.Fatalf("no topic created under chaos (created %d)", created)
	}
	t.Logf("created %d topics, final offset %d, %d distinct offsets compared", created, final.Offset, len(rec.byOffset))
}

// recorder keeps, per offset, the encoded image the first node to publish
// it had, and every disagreement.
type recorder struct {
	mu       sync.Mutex
	byOffset map[uint64]string
	bad      []string
}

func newRecorder() *recorder { return &recorder{byOffset: map[uint64]string{}} }

func (r *recorder) watch(id int32, s *Server, stop chan struct{}) {
	for {
		st := s.State()
		enc := string(metadata.EncodeSnapshot(st.Image))
		r.mu.Lock()
		if prev, ok := r.byOffset[st.Offset]; !ok {
			r.byOffset[st.Offset] = enc
		} else if prev != enc && len(r.bad) < 5 {
			r.bad = append(r.bad, fmt.Sprintf("node %d: image at offset %d differs", id, st.Offset))
		}
		r.mu.Unlock()
		select {
		case <-st.Changed():
		case <-stop:
			return
		}
	}
}

func (r *recorder) check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		return fmt.Errorf("prefix consistency broken: %v", r.bad)
	}
	return nil
}
