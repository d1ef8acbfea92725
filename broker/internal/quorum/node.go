package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Transport carries raft messages to other voters. Send is called on the
// node goroutine after everything the messages depend on is durable. It
// must not block on the network (queue, or drop: raft retransmits), must
// not modify the messages, and must be done reading them when it returns,
// since they share entries with the log. Inbound messages go to Node.Step.
type Transport interface {
	Send(msgs []*pb.Message)
}

// Status is a snapshot of a node's raft state, for logs, metrics and tests.
type Status struct {
	ID            uint64
	Leader        uint64 // 0 if unknown
	Term          uint64
	Commit        uint64
	Applied       uint64
	SnapshotIndex uint64
	IsLeader      bool
	// LeaderSince is when this node last saw the leader change.
	LeaderSince time.Time
}

const (
	recvQueueLen    = 4096
	maxBatchPerTurn = 256
)

type result struct {
	index uint64
	err   error
}

type proposal struct {
	data  []byte
	seq   uint64
	term  uint64 // the leader term it was appended in
	index uint64 // 0 until raft hands the entry back in a Ready
	done  chan result
}

func (p *proposal) finish(index uint64, err error) { p.done <- result{index: index, err: err} }

// Node drives one raft voter. See the package documentation for the
// goroutine model.
type Node struct {
	cfg Config
	log *slog.Logger
	st  *storage
	rn  *raft.RawNode

	propc chan *proposal
	recvc chan *pb.Message
	stopc chan struct{}
	done  chan struct{}

	startOnce, stopOnce sync.Once
	err                 error // set before done closes

	mu     sync.Mutex
	status Status

	// Owned by the node goroutine.
	seq        uint64
	unassigned map[uint64]*proposal // by seq: proposed, index not yet seen
	byIndex    map[uint64]*proposal // appended at this index, not yet applied
	applied    uint64
	snapReport []uint64 // followers sent a snapshot in the current Ready
}

// New recovers the durable state under cfg.Dir, gives the newest snapshot
// (if any) to cfg.Restore, and returns a node ready to Start. Entries
// committed after that snapshot are replayed through cfg.Apply once the
// node runs.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, rec, err := openStorage(cfg.FS, cfg.Dir, cfg.Peers)
	if err != nil {
		return nil, err
	}
	var applied uint64
	if rec.snapshot != nil {
		applied = rec.snapshot.GetMetadata().GetIndex()
		if cfg.Restore == nil {
			_ = st.close()
			return nil, fmt.Errorf("%w: a snapshot exists but Restore is nil", ErrInvalidConfig)
		}
		if err := cfg.Restore(applied, rec.snapshot.GetData()); err != nil {
			_ = st.close()
			return nil, fmt.Errorf("quorum: restore snapshot %d: %w", applied, err)
		}
	}
	log := cfg.Logger.With("node", cfg.NodeID)
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        cfg.NodeID,
		ElectionTick:              cfg.ElectionTicks,
		HeartbeatTick:             cfg.HeartbeatTicks,
		Storage:                   st.mem,
		Applied:                   applied,
		MaxSizePerMsg:             cfg.MaxSizePerMsgBytes,
		MaxInflightMsgs:           cfg.MaxInflightMsgs,
		MaxUncommittedEntriesSize: 64 << 20,
		// CheckQuorum makes a leader cut off from a majority step down, so
		// a minority side stops accepting proposals; PreVote keeps a
		// rejoining node from disrupting the leader with a higher term.
		CheckQuorum: true,
		PreVote:     true,
		// Proposals are accepted only by the leader, so that a proposer
		// always knows whether its entry entered the log.
		DisableProposalForwarding: true,
		Logger:                    raftLogger{log},
	})
	if err != nil {
		_ = st.close()
		return nil, err
	}
	n := &Node{
		cfg: cfg, log: log, st: st, rn: rn,
		propc:      make(chan *proposal),
		recvc:      make(chan *pb.Message, recvQueueLen),
		stopc:      make(chan struct{}),
		done:       make(chan struct{}),
		unassigned: make(map[uint64]*proposal),
		byIndex:    make(map[uint64]*proposal),
		applied:    applied,
	}
	n.status = Status{ID: cfg.NodeID, Term: rec.hardState.GetTerm(), Commit: rec.hardState.GetCommit(),
		Applied: applied, SnapshotIndex: applied}
	log.Info("quorum node opened", "snapshot_index", applied, "last_index", rec.lastIndex,
		"term", rec.hardState.GetTerm(), "commit", rec.hardState.GetCommit())
	return n, nil
}

// Start launches the node goroutine. It runs until Stop is called, ctx is
// done, or storage fails (see Err). Calling Start twice is a no-op.
func (n *Node) Start(ctx context.Context) {
	n.startOnce.Do(func() { go n.run(ctx) })
}

// Stop stops the node goroutine, waits for it, and returns what Err returns.
// A node that was never started is closed.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() { close(n.stopc) })
	n.startOnce.Do(func() { go n.run(context.Background()) })
	<-n.done
	return n.Err()
}

// Done is closed when the node goroutine has exited.
func (n *Node) Done() <-chan struct{} { return n.done }

// Err returns why the node goroutine exited: nil for Stop or a done
// context, else a storage or state-machine failure.
func (n *Node) Err() error {
	select {
	case <-n.done:
		return n.err
	default:
		return nil
	}
}

// Leader returns the leader this node knows of (0 if none) and its term.
func (n *Node) Leader() (id, term uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.status.Leader, n.status.Term
}

// Status returns the node's current raft state.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.status
}

// Propose appends data to the log and returns its index once it is
// committed and applied on this node. Errors: a *NotLeaderError (ErrNotLeader)
// or ErrDropped mean the entry is certainly not committed; ErrStopped,
// ErrOutcomeUnknown and ctx's error leave the outcome unknown.
func (n *Node) Propose(ctx context.Context, data []byte) (uint64, error) {
	p := &proposal{data: data, done: make(chan result, 1)}
	select {
	case n.propc <- p:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.done:
		return 0, ErrStopped
	}
	select {
	case r := <-p.done:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.done:
		// The goroutine finishes every proposal it accepted before it
		// exits; prefer that answer to a bare ErrStopped.
		select {
		case r := <-p.done:
			return r.index, r.err
		default:
			return 0, ErrStopped
		}
	}
}

// Step hands the node a message received from a peer. It blocks while the
// receive queue is full.
func (n *Node) Step(ctx context.Context, m *pb.Message) error {
	if m.GetTo() != n.cfg.NodeID {
		return fmt.Errorf("quorum: message for node %d delivered to node %d", m.GetTo(), n.cfg.NodeID)
	}
	select {
	case n.recvc <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}

func (n *Node) run(ctx context.Context) {
	defer close(n.done)
	defer func() {
		n.failAll(ErrStopped)
		if err := n.st.close(); err != nil && n.err == nil {
			n.err = err
		}
	}()
	defer func() {
		// etcd raft panics when its invariants break (for instance storage
		// that contradicts itself); stop this node instead of the process.
		if r := recover(); r != nil {
			n.err = fmt.Errorf("quorum: raft panic: %v", r)
			n.log.Error("quorum node failed", "err", n.err)
		}
	}()
	ticker := time.NewTicker(n.cfg.Tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.stopc:
			return
		case <-ticker.C:
			n.rn.Tick()
		case m := <-n.recvc:
			n.step(m)
			for i := 0; i < maxBatchPerTurn && len(n.recvc) > 0; i++ {
				n.step(<-n.recvc)
			}
		case p := <-n.propc:
			n.propose(p)
			n.drainProposals()
		}
		for n.rn.HasReady() {
			if err := n.handleReady(); err != nil {
				n.err = err
				n.log.Error("quorum node failed", "err", err)
				return
			}
		}
	}
}

func (n *Node) step(m *pb.Message) {
	if err := n.rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) {
		n.log.Debug("raft refused message", "from", m.GetFrom(), "type", m.GetType().String(), "err", err)
	}
}

func (n *Node) drainProposals() {
	for i := 0; i < maxBatchPerTurn; i++ {
		select {
		case p := <-n.propc:
			n.propose(p)
		default:
			return
		}
	}
}

func (n *Node) propose(p *proposal) {
	bs := n.rn.BasicStatus()
	if bs.RaftState != raft.StateLeader {
		p.finish(0, &NotLeaderError{Leader: bs.Lead, Term: bs.GetTerm()})
		return
	}
	n.seq++
	p.seq, p.term = n.seq, bs.GetTerm()
	if err := n.rn.Propose(encodeEnvelope(n.cfg.NodeID, p.seq, p.data)); err != nil {
		if errors.Is(err, raft.ErrProposalDropped) && n.rn.BasicStatus().RaftState != raft.StateLeader {
			p.finish(0, &NotLeaderError{Leader: bs.Lead, Term: bs.GetTerm()})
			return
		}
		p.finish(0, fmt.Errorf("%w: %w", ErrDropped, err))
		return
	}
	n.unassigned[p.seq] = p
}

// handleReady processes one Ready in the order raft requires: persist (and
// fsync) the snapshot, entries and hard state; only then send messages;
// apply the snapshot and committed entries; Advance.
func (n *Node) handleReady() error {
	rd := n.rn.Ready()
	if err := n.st.saveReady(&rd); err != nil {
		return fmt.Errorf("quorum: persist: %w", err)
	}
	n.assignIndexes(rd.Entries)
	if len(rd.Messages) > 0 {
		n.cfg.Transport.Send(rd.Messages)
		for _, m := range rd.Messages {
			if m.GetType() == pb.MsgSnap {
				n.snapReport = append(n.snapReport, m.GetTo())
			}
		}
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.restoreSnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	for _, e := range rd.CommittedEntries {
		if err := n.applyEntry(e); err != nil {
			return err
		}
	}
	n.rn.Advance(rd)
	// Transports send asynchronously and cannot tell when a snapshot
	// arrived; report it finished at once. If it was lost, the follower
	// rejects the next append and the leader sends the snapshot again.
	for _, to := range n.snapReport {
		n.rn.ReportSnapshot(to, raft.SnapshotFinish)
	}
	n.snapReport = n.snapReport[:0]
	if err := n.maybeSnapshot(); err != nil {
		return err
	}
	n.publishStatus()
	return nil
}

// assignIndexes learns the log index of this node's own new proposals. A
// proposal is appended by the leader the moment it is proposed, and the
// next Ready carries it, so any proposal still unassigned afterwards never
// entered the log.
func (n *Node) assignIndexes(ents []*pb.Entry) {
	for _, e := range ents {
		if len(e.GetData()) == 0 || len(n.unassigned) == 0 {
			continue
		}
		env, err := decodeEnvelope(e.GetData())
		if err != nil || env.proposer != n.cfg.NodeID {
			continue
		}
		p := n.unassigned[env.seq]
		if p == nil || p.term != e.GetTerm() {
			continue // an entry of an earlier process lifetime, sent back to us
		}
		delete(n.unassigned, env.seq)
		p.index = e.GetIndex()
		if old := n.byIndex[p.index]; old != nil {
			// Our log already held an older proposal of ours at this index;
			// it was overwritten, so it cannot be the one committed there.
			old.finish(0, fmt.Errorf("%w: overwritten at index %d", ErrDropped, p.index))
		}
		n.byIndex[p.index] = p
	}
	for seq, p := range n.unassigned {
		delete(n.unassigned, seq)
		p.finish(0, fmt.Errorf("%w: entry not appended", ErrDropped))
	}
}

func (n *Node) restoreSnapshot(snap *pb.Snapshot) error {
	index := snap.GetMetadata().GetIndex()
	if err := n.cfg.Restore(index, snap.GetData()); err != nil {
		return fmt.Errorf("quorum: restore snapshot %d: %w", index, err)
	}
	n.applied = index
	for i, p := range n.byIndex {
		if i <= index {
			delete(n.byIndex, i)
			p.finish(0, fmt.Errorf("%w: log replaced by a snapshot at %d", ErrOutcomeUnknown, index))
		}
	}
	n.log.Info("restored snapshot from leader", "index", index, "term", snap.GetMetadata().GetTerm())
	return nil
}

func (n *Node) applyEntry(e *pb.Entry) error {
	index := e.GetIndex()
	if index <= n.applied {
		return nil // covered by a snapshot restored in the same Ready
	}
	n.applied = index
	p := n.byIndex[index]
	delete(n.byIndex, index)
	if e.GetType() != pb.EntryNormal {
		// Membership is static and this package never proposes changes.
		n.log.Warn("ignoring configuration change entry", "index", index)
		if p != nil {
			p.finish(0, fmt.Errorf("%w: another entry committed at index %d", ErrDropped, index))
		}
		return nil
	}
	var env envelope
	if len(e.GetData()) > 0 {
		var err error
		if env, err = decodeEnvelope(e.GetData()); err != nil {
			return fmt.Errorf("%w: committed entry %d: %w", ErrCorrupt, index, err)
		}
		if n.cfg.Apply != nil {
			n.cfg.Apply(index, env.payload)
		}
	}
	if p != nil {
		if len(e.GetData()) > 0 && env.proposer == n.cfg.NodeID && env.seq == p.seq && e.GetTerm() == p.term {
			p.finish(index, nil)
		} else {
			p.finish(0, fmt.Errorf("%w: another entry committed at index %d", ErrDropped, index))
		}
	}
	return nil
}

func (n *Node) maybeSnapshot() error {
	if n.cfg.Snapshot == nil || n.cfg.SnapshotEvery == 0 || n.applied < n.st.snapIndex+n.cfg.SnapshotEvery {
		return nil
	}
	data, err := n.cfg.Snapshot()
	if err != nil {
		return fmt.Errorf("quorum: state machine snapshot at %d: %w", n.applied, err)
	}
	if err := n.st.snapshotAndCompact(n.applied, n.cfg.SnapshotCatchUpEntries, data); err != nil {
		return fmt.Errorf("quorum: snapshot at %d: %w", n.applied, err)
	}
	n.log.Debug("snapshot taken", "index", n.applied)
	return nil
}

func (n *Node) publishStatus() {
	bs := n.rn.BasicStatus()
	n.mu.Lock()
	defer n.mu.Unlock()
	if bs.Lead != n.status.Leader {
		n.status.LeaderSince = n.cfg.Now()
	}
	n.status.Leader = bs.Lead
	n.status.Term = bs.GetTerm()
	n.status.Commit = bs.GetCommit()
	n.status.Applied = n.applied
	n.status.SnapshotIndex = n.st.snapIndex
	n.status.IsLeader = bs.RaftState == raft.StateLeader
}

func (n *Node) failAll(err error) {
	for seq, p := range n.unassigned {
		delete(n.unassigned, seq)
		p.finish(0, err)
	}
	for i, p := range n.byIndex {
		delete(n.byIndex, i)
		p.finish(0, err)
	}
}

// raftLogger routes etcd raft's logging to slog. Raft's Panic/Fatal mean a
// broken invariant; they panic, and run turns that into the node's error.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)              { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Debugf(f string, v ...any)   { r.l.Debug(fmt.Sprintf(f, v...)) }
func (r raftLogger) Info(v ...any)               { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Infof(f string, v ...any)    { r.l.Debug(fmt.Sprintf(f, v...)) }
func (r raftLogger) Warning(v ...any)            { r.l.Warn(fmt.Sprint(v...)) }
func (r raftLogger) Warningf(f string, v ...any) { r.l.Warn(fmt.Sprintf(f, v...)) }
func (r raftLogger) Error(v ...any)              { r.l.Error(fmt.Sprint(v...)) }
func (r raftLogger) Errorf(f string, v ...any)   { r.l.Error(fmt.Sprintf(f, v...)) }
func (r raftLogger) Fatal(v ...any)              { panic(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(f string, v ...any)   { panic(fmt.Sprintf(f, v...)) }
func (r raftLogger) Panic(v ...any)              { panic(fmt.Sprint(v...)) }
func (r raftLogger) Panicf(f string, v ...any)   { panic(fmt.Sprintf(f, v...)) }
