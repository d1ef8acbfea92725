package quorum

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestReplicate(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprintf("nodes=%d", size), func(t *testing.T) {
			c := newCluster(t, clusterOpts{nodes: size, seed: int64(size)})
			c.waitLeader(5 * time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out := c.proposeMany(ctx, "v", 1000, 8)
			for v, o := range out {
				if o.err != nil {
					t.Fatalf("%s: %v", v, o.err)
				}
			}
			final := c.waitConverged(10 * time.Second)
			if len(final) != 1000 {
				t.Fatalf("applied %d entries, want 1000", len(final))
			}
			checkOutcomes(t, final, out)
		})
	}
}

func TestLeaderCrashAndRestart(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: 3, seed: 7})
	old := c.waitLeader(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := c.proposeMany(ctx, "a", 200, 4)
	c.crash(old, false)
	lead := c.waitLeader(5 * time.Second)
	if lead == old {
		t.Fatalf("crashed node %d still leader", old)
	}
	for v, o := range c.proposeMany(ctx, "b", 200, 4) {
		out[v] = o
	}
	c.start(old)
	final := c.waitConverged(10 * time.Second)
	if len(final) != 400 {
		t.Fatalf("applied %d entries, want 400", len(final))
	}
	checkOutcomes(t, final, out)
	// The restarted node replayed everything from its WAL and caught up.
	if got := c.fsmOf(old).entries(); len(got) != 400 {
		t.Fatalf("restarted node applied %d entries, want 400", len(got))
	}
}

func TestPartitionMinorityCannotCommit(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: 5, seed: 11})
	old := c.waitLeader(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := c.proposeMany(ctx, "pre", 50, 2)

	minority := []uint64{old, old%5 + 1}
	var majority []uint64
	for _, id := range c.ids {
		if id != minority[0] && id != minority[1] {
			majority = append(majority, id)
		}
	}
	c.net.Partition(minority, majority)

	// The old leader keeps taking proposals until CheckQuorum deposes it;
	// none of them may commit.
	var wg sync.WaitGroup
	minorityOut := make(map[string]proposeOutcome)
	var mu sync.Mutex
	for i := range 5 {
		wg.Go(func() {
			pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer pcancel()
			v := fmt.Sprintf("minority-%d", i)
			idx, err := c.live()[old].Propose(pctx, []byte(v))
			mu.Lock()
			minorityOut[v] = proposeOutcome{index: idx, err: err}
			mu.Unlock()
		})
	}
	for i := range 50 {
		v := fmt.Sprintf("major-%d", i)
		o := c.propose(ctx, majority, v)
		if o.err != nil {
			t.Fatalf("majority side failed to commit %s: %v", v, o.err)
		}
		out[v] = o
	}
	wg.Wait()
	for v, o := range minorityOut {
		if o.err == nil {
			t.Fatalf("minority committed %s at %d", v, o.index)
		}
	}
	if st := c.live()[old].Status(); st.IsLeader {
		t.Fatalf("partitioned old leader %d still believes it leads", old)
	}

	c.net.Heal()
	final := c.waitConverged(10 * time.Second)
	checkOutcomes(t, final, out)
	for _, e := range final {
		if _, ok := minorityOut[e.data]; ok {
			t.Fatalf("minority proposal %s committed after heal", e.data)
		}
	}
	if len(final) != 100 {
		t.Fatalf("applied %d entries, want 100", len(final))
	}
}

// TestAgreementUnderChaos is the seeded property: with message loss,
// duplication, delay/reordering, partitions and crashes (torn WAL tails
// included), every node's applied sequence is a prefix of one common
// sequence, acknowledged entries are where they were acknowledged, and
// certainly-failed ones never appear. QUORUM_SEEDS sets the seed count.
func TestAgreementUnderChaos(t *testing.T) {
	seeds := 4
	if s, err := strconv.Atoi(os.Getenv("QUORUM_SEEDS")); err == nil && s > 0 {
		seeds = s
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("replay: go test ./broker/internal/quorum -run 'TestAgreementUnderChaos/seed=%d$'", seed)
			chaosRun(t, seed)
		})
	}
}

func chaosRun(t *testing.T, seed int64) {
	faults := MemNetFaults{DropRate: 0.1, DupRate: 0.1, MaxDelay: 10 * time.Millisecond}
	nodes := 3 + 2*int(seed%2)
	c := newCluster(t, clusterOpts{nodes: nodes, seed: seed, faults: faults, snapshotEvery: 40, catchUp: 5})
	rng := rand.New(rand.NewSource(seed))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	stopNemesis := make(chan struct{})
	nemesisDone := make(chan struct{})
	go func() {
		defer close(nemesisDone)
		for {
			select {
			case <-stopNemesis:
				return
			case <-time.After(time.Duration(100+rng.Intn(200)) * time.Millisecond):
			}
			id := c.ids[rng.Intn(len(c.ids))]
			switch rng.Intn(3) {
			case 0:
				c.net.Isolate(id)
			case 1:
				c.net.Heal()
			case 2:
				c.crash(id, rng.Intn(2) == 0)
				c.start(id)
			}
			c.checkPrefixes()
		}
	}()
	out := c.proposeFor(ctx, fmt.Sprintf("s%d", seed), 2*time.Second, 4)
	close(stopNemesis)
	<-nemesisDone

	c.net.Heal()
	c.net.SetFaults(MemNetFaults{})
	// Every node now has its definitive log; put one more entry through so
	// the new leader commits (and so applies) everything before it.
	if o := c.propose(ctx, nil, "final"); o.err != nil {
		t.Fatalf("final proposal: %v", o.err)
	}
	final := c.waitConverged(20 * time.Second)
	c.checkPrefixes()
	checkOutcomes(t, final, out)
	acked := 0
	for _, o := range out {
		if o.err == nil {
			acked++
		}
	}
	t.Logf("seed %d, %d nodes: %d/%d acknowledged, %d applied", seed, nodes, acked, len(out), len(final))
	if acked == 0 {
		t.Fatalf("nothing acknowledged under chaos")
	}
}

func TestSnapshotCompactionAndLaggingFollower(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: 3, seed: 3, snapshotEvery: 50, catchUp: 10})
	lead := c.waitLeader(5 * time.Second)
	lagger := lead%3 + 1
	c.stop(lagger)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := c.proposeMany(ctx, "x", 300, 4)
	lead = c.waitLeader(5 * time.Second)
	st := c.live()[lead].Status()
	if st.SnapshotIndex < 250 {
		t.Fatalf("leader snapshot index %d, want >= 250", st.SnapshotIndex)
	}
	segs, _, err := listSegments(c.fs[lead], "/raft/wal")
	if err != nil || len(segs) != 1 {
		t.Fatalf("leader WAL segments %v (%v), want exactly one after compaction", segs, err)
	}

	c.start(lagger)
	final := c.waitConverged(10 * time.Second)
	if len(final) != 300 {
		t.Fatalf("applied %d entries, want 300", len(final))
	}
	checkOutcomes(t, final, out)
	if c.fsmOf(lagger).restores == 0 {
		t.Fatalf("lagging node caught up without a snapshot")
	}

	// Restart every node from its crashed disk: snapshot + log replay must
	// give back the same sequence, and the cluster must go on.
	for _, id := range c.ids {
		c.crash(id, false)
	}
	for _, id := range c.ids {
		c.start(id)
	}
	c.waitLeader(5 * time.Second)
	for v, o := range c.proposeMany(ctx, "y", 20, 2) {
		out[v] = o
	}
	final = c.waitConverged(10 * time.Second)
	checkOutcomes(t, final, out)
	if len(final) != 320 {
		t.Fatalf("applied %d entries after full restart, want 320", len(final))
	}
}

func TestProposeErrors(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: 3, seed: 5})
	lead := c.waitLeader(5 * time.Second)
	follower := c.live()[lead%3+1]
	_, err := follower.Propose(context.Background(), []byte("x"))
	var nl *NotLeaderError
	if !errors.As(err, &nl) || !errors.Is(err, ErrNotLeader) || nl.Leader != lead {
		t.Fatalf("propose on follower: %v, want NotLeaderError naming %d", err, lead)
	}
	c.stop(lead%3 + 1)
	if _, err := follower.Propose(context.Background(), []byte("x")); !errors.Is(err, ErrStopped) {
		t.Fatalf("propose on stopped node: %v, want ErrStopped", err)
	}
}

func TestConfigValidate(t *testing.T) {
	base := func() Config {
		return Config{NodeID: 1, Peers: []Peer{{ID: 1}, {ID: 2}}, Dir: "/d", Transport: NewMemNet(1, MemNetFaults{}).Transport(1)}
	}
	for name, mutate := range map[string]func(*Config){
		"zero id":         func(c *Config) { c.NodeID = 0 },
		"not a peer":      func(c *Config) { c.NodeID = 3 },
		"dup peer":        func(c *Config) { c.Peers = append(c.Peers, Peer{ID: 2}) },
		"no dir":          func(c *Config) { c.Dir = "" },
		"no transport":    func(c *Config) { c.Transport = nil },
		"ticks":           func(c *Config) { c.ElectionTicks, c.HeartbeatTicks = 2, 2 },
		"snap no restore": func(c *Config) { c.Snapshot = func() ([]byte, error) { return nil, nil } },
	} {
		cfg := base()
		mutate(&cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig", name, err)
		}
	}
	cfg := base()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}
