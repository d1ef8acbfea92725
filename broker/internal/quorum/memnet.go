package quorum

import (
	"container/heap"
	"context"
	"math/rand"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// StepFunc delivers an inbound message to a node; Node.Step is one.
type StepFunc func(ctx context.Context, m *pb.Message) error

// MemNetFaults are the seeded link faults of a MemNet, applied to every
// message independently.
type MemNetFaults struct {
	// DropRate is the probability a message is lost.
	DropRate float64
	// DupRate is the probability a message is delivered twice.
	DupRate float64
	// MaxDelay delays each delivery by a uniform random duration in
	// [0, MaxDelay]; with MaxDelay > 0 messages overtake each other.
	MaxDelay time.Duration
}

// MemNet is an in-memory network of raft nodes for tests and simulations.
// Messages are serialised on Send (so each receiver gets its own copy, as
// over a wire) and delivered by one goroutine per attached node, subject to
// partitions and to faults drawn from a rand seeded at construction.
type MemNet struct {
	mu       sync.Mutex
	rng      *rand.Rand
	faults   MemNetFaults
	groups   map[uint64]int // partition group per node; absent: group 0
	isolated map[uint64]bool
	inboxes  map[uint64]*inbox
	seq      uint64
	closed   bool
	wg       sync.WaitGroup
}

// NewMemNet returns a network whose faults draw from seed.
func NewMemNet(seed int64, faults MemNetFaults) *MemNet {
	return &MemNet{
		rng:      rand.New(rand.NewSource(seed)),
		faults:   faults,
		groups:   make(map[uint64]int),
		isolated: make(map[uint64]bool),
		inboxes:  make(map[uint64]*inbox),
	}
}

// SetFaults replaces the link faults.
func (m *MemNet) SetFaults(f MemNetFaults) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = f
}

// Partition splits the nodes into groups that cannot talk to each other.
// Nodes not named form one more group together.
func (m *MemNet) Partition(groups ...[]uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.groups = make(map[uint64]int)
	for g, ids := range groups {
		for _, id := range ids {
			m.groups[id] = g + 1
		}
	}
}

// Isolate cuts every link of id (in both directions) until Heal.
func (m *MemNet) Isolate(id uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.isolated[id] = true
}

// Heal removes all partitions and isolations (not the link faults).
func (m *MemNet) Heal() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.groups = make(map[uint64]int)
	m.isolated = make(map[uint64]bool)
}

func (m *MemNet) connectedLocked(a, b uint64) bool {
	return !m.isolated[a] && !m.isolated[b] && m.groups[a] == m.groups[b]
}

// Attach starts delivering messages addressed to id through step, replacing
// an earlier attachment (a restarted node).
func (m *MemNet) Attach(id uint64, step StepFunc) {
	m.Detach(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &inbox{net: m, step: step, cancel: cancel, wake: make(chan struct{}, 1), done: make(chan struct{})}
	m.inboxes[id] = in
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		in.run(ctx)
	}()
}

// Detach stops delivery to id and discards what was in flight to it, as a
// crash of id would.
func (m *MemNet) Detach(id uint64) {
	m.mu.Lock()
	in := m.inboxes[id]
	delete(m.inboxes, id)
	m.mu.Unlock()
	if in != nil {
		in.cancel()
		<-in.done
	}
}

// Close detaches every node and waits for the delivery goroutines.
func (m *MemNet) Close() {
	m.mu.Lock()
	m.closed = true
	ids := make([]uint64, 0, len(m.inboxes))
	for id := range m.inboxes {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	for _, id := range ids {
		m.Detach(id)
	}
	m.wg.Wait()
}

// Transport returns the sending side of node from.
func (m *MemNet) Transport(from uint64) Transport { return memTransport{net: m, from: from} }

type memTransport struct {
	net  *MemNet
	from uint64
}

func (t memTransport) Send(msgs []*pb.Message) {
	for _, msg := range msgs {
		b, err := proto.Marshal(msg)
		if err != nil {
			continue
		}
		t.net.send(t.from, msg.GetTo(), b)
	}
}

func (m *MemNet) send(from, to uint64, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in := m.inboxes[to]
	if in == nil || !m.connectedLocked(from, to) {
		return
	}
	if m.faults.DropRate > 0 && m.rng.Float64() < m.faults.DropRate {
		return
	}
	copies := 1
	if m.faults.DupRate > 0 && m.rng.Float64() < m.faults.DupRate {
		copies = 2
	}
	now := time.Now()
	for range copies {
		var delay time.Duration
		if m.faults.MaxDelay > 0 {
			delay = time.Duration(m.rng.Int63n(int64(m.faults.MaxDelay) + 1))
		}
		m.seq++
		in.push(flight{at: now.Add(delay), seq: m.seq, from: from, to: to, b: b})
	}
}

type flight struct {
	at       time.Time
	seq      uint64 // FIFO among equal times
	from, to uint64
	b        []byte
}

type flightHeap []flight

func (h flightHeap) Len() int { return len(h) }
func (h flightHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h flightHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *flightHeap) Push(x any)   { *h = append(*h, x.(flight)) }
func (h *flightHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// inbox holds the messages in flight to one node, ordered by delivery time.
type inbox struct {
	mu     sync.Mutex
	q      flightHeap
	step   StepFunc
	cancel context.CancelFunc
	wake   chan struct{} // a message was pushed
	done   chan struct{} // closed when run returns
	net    *MemNet
}

func (in *inbox) push(f flight) {
	in.mu.Lock()
	heap.Push(&in.q, f)
	in.mu.Unlock()
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// next pops the first message due at now, or says how long to wait.
func (in *inbox) next(now time.Time) (f flight, wait time.Duration, ok bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.q) == 0 {
		return flight{}, -1, false
	}
	if d := in.q[0].at.Sub(now); d > 0 {
		return flight{}, d, false
	}
	return heap.Pop(&in.q).(flight), 0, true
}

func (in *inbox) run(ctx context.Context) {
	defer close(in.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		f, wait, ok := in.next(time.Now())
		if ok {
			in.deliver(ctx, f)
			continue
		}
		var tc <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-in.wake:
		case <-tc:
		}
	}
}

func (in *inbox) deliver(ctx context.Context, f flight) {
	// A partition that began while the message was in flight cuts it too.
	in.net.mu.Lock()
	ok := in.net.connectedLocked(f.from, f.to)
	in.net.mu.Unlock()
	if !ok {
		return
	}
	msg := &pb.Message{}
	if err := proto.Unmarshal(f.b, msg); err != nil {
		return
	}
	_ = in.step(ctx, msg)
}
