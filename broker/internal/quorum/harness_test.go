package quorum

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/highwater-io/highwater/internal/vfs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testLogger logs at warn and above unless QUORUM_DEBUG is set.
func testLogger() *slog.Logger {
	if os.Getenv("QUORUM_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type appliedEntry struct {
	index uint64
	data  string
}

// fsm is the test state machine: the applied sequence itself. Its snapshot
// is the whole sequence, so a restored node still shows everything and the
// prefix property can be checked across snapshots.
type fsm struct {
	mu       sync.Mutex
	log      []appliedEntry
	restores int
	bad      error // first violation of "indexes strictly increase"
}

func (f *fsm) apply(index uint64, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.log); n > 0 && index <= f.log[n-1].index && f.bad == nil {
		f.bad = fmt.Errorf("applied index %d after %d", index, f.log[n-1].index)
	}
	f.log = append(f.log, appliedEntry{index, string(data)})
}

func (f *fsm) snapshot() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b []byte
	for _, e := range f.log {
		b = binary.AppendUvarint(b, e.index)
		b = binary.AppendUvarint(b, uint64(len(e.data)))
		b = append(b, e.data...)
	}
	return b, nil
}

func (f *fsm) restore(index uint64, b []byte) error {
	var log []appliedEntry
	for len(b) > 0 {
		i, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("bad snapshot")
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return errors.New("bad snapshot")
		}
		log = append(log, appliedEntry{i, string(b[n : n+int(l)])})
		b = b[n+int(l):]
	}
	if len(log) > 0 && log[len(log)-1].index > index {
		return fmt.Errorf("snapshot at %d holds index %d", index, log[len(log)-1].index)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = log
	f.restores++
	return nil
}

func (f *fsm) entries() []appliedEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

type clusterOpts struct {
	nodes         int
	seed          int64
	faults        MemNetFaults
	snapshotEvery uint64
	catchUp       uint64
	// tcp runs the nodes over TCPTransport on 127.0.0.1 instead of MemNet;
	// dials counts the connections made through the Dial seam.
	tcp   bool
	dials *atomic.Int64
}

// cluster runs nodes over a MemNet, each on its own MemFS.
type cluster struct {
	t     *testing.T
	opts  clusterOpts
	net   *MemNet
	ids   []uint64
	fs    map[uint64]*vfs.MemFS
	nodes map[uint64]*Node
	fsms  map[uint64]*fsm
	rng   *rand.Rand
	mu    sync.Mutex // guards nodes, fsms, fs, tcps and rng
	addrs map[uint64]string
	lns   map[uint64]net.Listener // bound before the first start, to learn ports
	tcps  map[uint64]*TCPTransport
}

func newCluster(t *testing.T, opts clusterOpts) *cluster {
	t.Helper()
	c := &cluster{
		t: t, opts: opts,
		net:   NewMemNet(opts.seed, opts.faults),
		fs:    make(map[uint64]*vfs.MemFS),
		nodes: make(map[uint64]*Node),
		fsms:  make(map[uint64]*fsm),
		rng:   rand.New(rand.NewSource(opts.seed ^ 0x5eed)),
		addrs: make(map[uint64]string),
		lns:   make(map[uint64]net.Listener),
		tcps:  make(map[uint64]*TCPTransport),
	}
	for i := 1; i <= opts.nodes; i++ {
		id := uint64(i)
		c.ids = append(c.ids, id)
		c.fs[id] = vfs.NewMem()
		if opts.tcp {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			c.lns[id], c.addrs[id] = ln, ln.Addr().String()
		}
	}
	for _, id := range c.ids {
		c.start(id)
	}
	t.Cleanup(c.close)
	return c
}

func (c *cluster) peers() []Peer {
	var ps []Peer
	for _, id := range c.ids {
		ps = append(ps, Peer{ID: id, Addr: c.addrs[id]})
	}
	return ps
}

func (c *cluster) start(id uint64) {
	c.t.Helper()
	f := &fsm{}
	c.mu.Lock()
	fsys := c.fs[id]
	c.mu.Unlock()
	var tr Transport = c.net.Transport(id)
	var tcp *TCPTransport
	if c.opts.tcp {
		tcp = c.newTCP(id)
		tr = tcp
	}
	cfg := Config{
		NodeID: id, Peers: c.peers(), Dir: "/raft", FS: fsys,
		Transport: tr,
		Tick:      5 * time.Millisecond, ElectionTicks: 10, HeartbeatTicks: 1,
		SnapshotEvery: c.opts.snapshotEvery, SnapshotCatchUpEntries: c.opts.catchUp,
		Apply: f.apply, Snapshot: f.snapshot, Restore: f.restore,
		Logger: testLogger(),
	}
	n, err := New(cfg)
	if err != nil {
		c.t.Fatalf("node %d: New: %v", id, err)
	}
	c.mu.Lock()
	c.nodes[id], c.fsms[id] = n, f
	c.mu.Unlock()
	if tcp != nil {
		c.serveTCP(id, tcp, n)
	} else {
		c.net.Attach(id, n.Step)
	}
	n.Start(context.Background())
}

// stop stops node id cleanly (its unsynced writes stay on its MemFS).
func (c *cluster) stop(id uint64) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[id]
	delete(c.nodes, id)
	tcp := c.tcps[id]
	delete(c.tcps, id)
	c.mu.Unlock()
	if n == nil {
		return
	}
	c.net.Detach(id)
	if tcp != nil {
		_ = tcp.Close()
	}
	if err := n.Stop(); err != nil {
		c.t.Errorf("node %d stopped with %v", id, err)
	}
}

// live returns the running nodes.
func (c *cluster) live() map[uint64]*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.nodes)
}

func (c *cluster) fsmOf(id uint64) *fsm {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fsms[id]
}

// crash stops node id and throws away its unsynced writes; torn leaves a
// random prefix of them, as a disk might.
func (c *cluster) crash(id uint64, torn bool) {
	c.t.Helper()
	c.stop(id)
	if torn {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.fs[id] = c.fs[id].CrashPartial(rand.New(rand.NewSource(c.rng.Int63())))
	} else {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.fs[id] = c.fs[id].Crash()
	}
}

func (c *cluster) newTCP(id uint64) *TCPTransport {
	dial := (&net.Dialer{}).DialContext
	return NewTCPTransport(TCPConfig{
		NodeID: id, Peers: c.peers(), RedialBackoff: 20 * time.Millisecond, Logger: testLogger(),
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if c.opts.dials != nil {
				c.opts.dials.Add(1)
			}
			return dial(ctx, network, addr)
		},
	})
}

// serveTCP listens on id's fixed address (reusing the first listener) and
// serves tcp for node n.
func (c *cluster) serveTCP(id uint64, tcp *TCPTransport, n *Node) {
	c.t.Helper()
	c.mu.Lock()
	ln := c.lns[id]
	delete(c.lns, id)
	c.tcps[id] = tcp
	c.mu.Unlock()
	if ln == nil {
		var err error
		// The old listener is closed, but its port may linger briefly.
		for range 100 {
			if ln, err = net.Listen("tcp", c.addrs[id]); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			c.t.Fatalf("relisten %s: %v", c.addrs[id], err)
		}
	}
	tcp.Serve(ln, n.Step)
}

func (c *cluster) close() {
	for _, id := range c.ids {
		c.stop(id)
	}
	for _, ln := range c.lns {
		_ = ln.Close()
	}
	c.net.Close()
	for _, id := range c.ids {
		if err := c.fsms[id].bad; err != nil {
			c.t.Errorf("node %d: %v", id, err)
		}
	}
}

// randomNode returns a random running node among pool (nil: all nodes).
func (c *cluster) randomNode(pool []uint64) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pool == nil {
		pool = c.ids
	}
	var live []uint64
	for _, id := range pool {
		if c.nodes[id] != nil {
			live = append(live, id)
		}
	}
	if len(live) == 0 {
		return nil
	}
	return c.nodes[live[c.rng.Intn(len(live))]]
}

// waitLeader waits until the live nodes agree on one live leader.
func (c *cluster) waitLeader(timeout time.Duration) uint64 {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var lead uint64
		agree := true
		live := c.live()
		for _, n := range live {
			l, _ := n.Leader()
			if l == 0 || (lead != 0 && l != lead) {
				agree = false
				break
			}
			lead = l
		}
		if agree && lead != 0 && live[lead] != nil && live[lead].Status().IsLeader {
			return lead
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("no leader agreed within %v", timeout)
	return 0
}

// proposeOutcome is what one logical proposal ended as.
type proposeOutcome struct {
	index uint64
	err   error // nil: committed at index; otherwise the last attempt's error
}

// propose submits data through a random node of pool (nil: any), or the
// leader it names if that is in pool, retrying while errors say the entry
// is certainly not committed. It stops at the first unknown outcome, so a
// value is committed at most once.
func (c *cluster) propose(ctx context.Context, pool []uint64, data string) proposeOutcome {
	n := c.randomNode(pool)
	for {
		var idx uint64
		var err error = ErrStopped
		if n != nil {
			actx, cancel := context.WithTimeout(ctx, 2*time.Second)
			idx, err = n.Propose(actx, []byte(data))
			cancel()
		}
		if err == nil {
			return proposeOutcome{index: idx}
		}
		var nl *NotLeaderError
		switch {
		case errors.As(err, &nl) || errors.Is(err, ErrDropped):
		case n == nil:
		default:
			return proposeOutcome{err: err}
		}
		select {
		case <-ctx.Done():
			return proposeOutcome{err: err}
		case <-time.After(2 * time.Millisecond):
		}
		n = c.randomNode(pool)
		if nl != nil && nl.Leader != 0 && (pool == nil || slices.Contains(pool, nl.Leader)) {
			if l := c.liveNode(nl.Leader); l != nil {
				n = l
			}
		}
	}
}

func (c *cluster) liveNode(id uint64) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// proposeMany proposes values prefix-0..count-1 from workers goroutines.
func (c *cluster) proposeMany(ctx context.Context, prefix string, count, workers int) map[string]proposeOutcome {
	return c.proposeWhile(ctx, prefix, workers, func(i int) bool { return i < count })
}

// proposeFor proposes values prefix-0, prefix-1, ... from workers
// goroutines until d has passed.
func (c *cluster) proposeFor(ctx context.Context, prefix string, d time.Duration, workers int) map[string]proposeOutcome {
	deadline := time.Now().Add(d)
	return c.proposeWhile(ctx, prefix, workers, func(int) bool { return time.Now().Before(deadline) })
}

func (c *cluster) proposeWhile(ctx context.Context, prefix string, workers int, more func(i int) bool) map[string]proposeOutcome {
	var mu sync.Mutex
	out := make(map[string]proposeOutcome)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				v := fmt.Sprintf("%s-%d", prefix, i)
				o := c.propose(ctx, nil, v)
				mu.Lock()
				out[v] = o
				mu.Unlock()
			}
		})
	}
	for i := 0; more(i) && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// waitConverged waits until every live node has applied the same sequence
// up to the same commit index and returns that sequence.
func (c *cluster) waitConverged(timeout time.Duration) []appliedEntry {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		var ref []appliedEntry
		var refCommit uint64
		ok := true
		live := c.live()
		for _, id := range c.ids {
			n := live[id]
			if n == nil {
				continue
			}
			st := n.Status()
			ents := c.fsmOf(id).entries()
			if ref == nil {
				ref, refCommit = ents, st.Commit
			}
			if st.Applied != st.Commit || st.Commit != refCommit || !slices.Equal(ents, ref) {
				ok = false
				last = fmt.Sprintf("node %d: commit %d applied %d entries %d (ref commit %d entries %d)",
					id, st.Commit, st.Applied, len(ents), refCommit, len(ref))
				break
			}
		}
		if ok {
			return ref
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no convergence within %v: %s", timeout, last)
	return nil
}

// checkPrefixes asserts the agreement property: every node's applied
// sequence is a prefix of one common sequence (the longest one).
func (c *cluster) checkPrefixes() []appliedEntry {
	c.t.Helper()
	var longest []appliedEntry
	all := map[uint64][]appliedEntry{}
	for _, id := range c.ids {
		all[id] = c.fsmOf(id).entries()
		if len(all[id]) > len(longest) {
			longest = all[id]
		}
	}
	for id, ents := range all {
		if !slices.Equal(ents, longest[:len(ents)]) {
			c.t.Fatalf("agreement: node %d applied a sequence that is not a prefix of the common one", id)
		}
	}
	return longest
}

// checkOutcomes asserts what proposers were told against the final log:
// committed values sit at their reported index, certainly-failed ones are
// absent, and no value appears twice.
func checkOutcomes(t *testing.T, final []appliedEntry, outcomes map[string]proposeOutcome) {
	t.Helper()
	at := make(map[string]uint64, len(final))
	for _, e := range final {
		if _, dup := at[e.data]; dup {
			t.Fatalf("value %q applied twice", e.data)
		}
		at[e.data] = e.index
	}
	for v, o := range outcomes {
		idx, present := at[v]
		var nl *NotLeaderError
		switch {
		case o.err == nil && (!present || idx != o.index):
			t.Fatalf("value %q acknowledged at %d but log has it at %d (present %v)", v, o.index, idx, present)
		case o.err != nil && (errors.As(o.err, &nl) || errors.Is(o.err, ErrDropped)) && present:
			t.Fatalf("value %q failed certainly (%v) but was committed at %d", v, o.err, idx)
		}
	}
}
