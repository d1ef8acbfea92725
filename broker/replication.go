package broker

// Cluster mode data plane: the replication driver. It owns one
// replica.Partition state machine per hosted partition, fed by metadata
// images (PartitionState), by the handlers (leader appends, produce
// completions, follower fetches received) and by its own fetchers (fetch
// answers from leaders), and applies every Ready faithfully: log
// truncations and follower appends through partlog, the leader-epoch cache
// to <partition dir>/leader-epoch-checkpoint, the high watermark to the
// handlers, ISR proposals to the controller (AlterPartition).
//
// Goroutines: run's tick loop (Tick every replicationTick), one fetcher per
// leader broker this node follows partitions of, one short-lived goroutine
// per AlterPartition in flight. All end when run's context ends. Each
// partition's state machine is guarded by its replPart.mu, held across
// CheckAppend, the leader append and Step(Appended), and across Step plus
// applying the Ready it produced.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/faults"
	"github.com/highwater-io/highwater/broker/internal/handler"
	"github.com/highwater-io/highwater/broker/internal/metadata"
	"github.com/highwater-io/highwater/broker/internal/replica"
	"github.com/highwater-io/highwater/broker/internal/topics"
	"github.com/highwater-io/highwater/internal/vfs"
)

const (
	// replicationTick drives ISR shrink checks, produce deadlines and fetch
	// and AlterPartition retries.
	replicationTick = 50 * time.Millisecond
	// replicaFetchMaxWait is the follower's long poll (replica.fetch.wait.max.ms
	// is 500 in Kafka too).
	replicaFetchMaxWait = 500 * time.Millisecond
	// replicaFetchPartitionBytes is replica.fetch.max.bytes.
	replicaFetchPartitionBytes = 1 << 20
	// replicaRequestTimeout bounds one fetch or AlterPartition round trip.
	replicaRequestTimeout = 5 * time.Second
	epochCheckpointFile   = "leader-epoch-checkpoint"
	// hwCheckpointFile holds the partition's last high watermark, so a
	// restarted replica (possibly elected before it fetched again) does not
	// start from its log start (Kafka's replication-offset-checkpoint, per
	// partition directory here).
	hwCheckpointFile = "replication-offset-checkpoint"
	// hwCheckpointInterval throttles checkpoint writes (Kafka's
	// replica.high.watermark.checkpoint.interval.ms is 5 s; shorter here
	// because a restart in a chaos run follows a kill within seconds).
	hwCheckpointInterval = 100 * time.Millisecond
)

type partKey struct {
	topic [16]byte
	index int32
}

// replPart is one hosted partition's state machine and what the driver
// keeps beside it.
type replPart struct {
	key  partKey
	tp   *topics.Partition
	dir  string
	hw   atomic.Int64 // published high watermark, read without mu
	role atomic.Int32 // replica.Role, read without mu
	// epochStart is the leader epoch's start offset while leading (read
	// without mu): ListOffsets latest waits until the high watermark
	// reaches it (KIP-207).
	epochStart atomic.Int64
	// hwSaved is the high watermark last written to hwCheckpointFile,
	// hwSavedAt when (both touched only by the tick loop and retire).
	hwSaved   int64
	hwSavedAt time.Time

	mu      sync.Mutex
	sm      *replica.Partition
	minISR  int
	waiters map[uint64]chan error // acks=-1 produces by Produce id
	fetch   *replica.FetchRequest // next fetch for the fetcher to send
	dead    bool                  // no longer hosted
	failed  bool                  // the state machine tripped an invariant (logged once)
}

type replicator struct {
	c      *clusterNode
	log    *slog.Logger
	fs     vfs.FS
	now    func() time.Time
	ids    atomic.Uint64
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	parts    map[partKey]*replPart
	fetchers map[int32]chan struct{} // wake channel per leader
}

var _ handler.Replication = (*replicator)(nil)

func newReplicator(c *clusterNode) *replicator {
	ctx, cancel := context.WithCancel(context.Background())
	return &replicator{c: c, log: c.b.log.With("component", "replication"), fs: c.b.cfg.FS, now: c.b.cfg.Now,
		ctx: ctx, cancel: cancel, parts: map[partKey]*replPart{}, fetchers: map[int32]chan struct{}{}}
}

func (r *replicator) nowMs() int64 { return r.now().UnixMilli() }

// run ticks every state machine until ctx ends, then stops the fetchers.
func (r *replicator) run(ctx context.Context) {
	t := time.NewTicker(replicationTick)
	defer func() {
		t.Stop()
		r.mu.Lock() // no goTracked between the cancel and the Wait
		r.cancel()
		r.mu.Unlock()
		r.wg.Wait()
		r.checkpointHWs(true)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, rp := range r.snapshot() {
			rp.mu.Lock()
			if !rp.dead {
				r.step(rp, replica.Tick{NowMs: r.nowMs()})
			}
			rp.mu.Unlock()
		}
		r.checkpointHWs(false)
	}
}

// checkpointHWs writes the high watermarks that moved since their last
// checkpoint, at most every hwCheckpointInterval per partition unless
// final. Only the tick loop (and its exit) calls it.
func (r *replicator) checkpointHWs(final bool) {
	now := r.now()
	for _, rp := range r.snapshot() {
		hw := rp.hw.Load()
		if hw == rp.hwSaved || (!final && now.Sub(rp.hwSavedAt) < hwCheckpointInterval) {
			continue
		}
		if err := saveHW(r.fs, rp.dir, hw); err != nil {
			r.log.Warn("replication-offset-checkpoint", "dir", rp.dir, "err", err)
			continue
		}
		rp.hwSaved, rp.hwSavedAt = hw, now
	}
}

func (r *replicator) snapshot() []*replPart {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*replPart, 0, len(r.parts))
	for _, rp := range r.parts {
		out = append(out, rp)
	}
	return out
}

func (r *replicator) get(topicID [16]byte, index int32) *replPart {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.parts[partKey{topicID, index}]
}

// apply feeds img's decisions to the state machines of the partitions the
// catalogue hosts (the driver synced it to img just before), creating and
// dropping state machines as partitions come and go.
func (r *replicator) apply(img metadata.Image) {
	seen := map[partKey]bool{}
	for _, t := range img.Topics() {
		ct, ok := r.c.catalog.Get(t.Name)
		if !ok {
			continue
		}
		minISR := int(r.c.b.s.props.TopicInt64(ct.Configs(), "min.insync.replicas"))
		for i, ip := range t.Partitions {
			tp := ct.Partition(int32(i))
			if tp == nil || !slices.Contains(ip.Replicas, r.c.nodeID) {
				continue
			}
			key := partKey{[16]byte(t.ID), int32(i)}
			seen[key] = true
			rp, err := r.ensure(key, tp, minISR)
			if err != nil {
				r.log.Error("replica state", "topic", t.Name, "partition", i, "err", err)
				continue
			}
			st := replica.PartitionState{Leader: ip.Leader, LeaderEpoch: ip.LeaderEpoch, PartitionEpoch: ip.PartitionEpoch,
				Replicas: slices.Clone(ip.Replicas), ISR: slices.Clone(ip.ISR), NowMs: r.nowMs()}
			for _, id := range ip.Replicas {
				if b, ok := img.Broker(id); !ok || !b.Active() {
					st.Ineligible = append(st.Ineligible, id)
				}
			}
			rp.mu.Lock()
			if rp.minISR != minISR {
				rp.minISR = minISR
				r.step(rp, replica.MinISRChanged{MinInsyncReplicas: max(minISR, 1)})
			}
			if _, err := r.step(rp, st); errors.Is(err, replica.ErrStaleDecision) {
				// An image older than the local log (a restarted node
				// replaying its metadata before catching up): skipped, as
				// Kafka skips a stale leader epoch; a newer image follows.
				r.log.Debug("stale partition state skipped", "topic", t.Name, "partition", i, "err", err)
			}
			rp.mu.Unlock()
		}
	}
	r.mu.Lock()
	var gone []*replPart
	for k, rp := range r.parts {
		if !seen[k] {
			gone = append(gone, rp)
			delete(r.parts, k)
		}
	}
	r.mu.Unlock()
	for _, rp := range gone {
		rp.mu.Lock()
		r.retire(rp)
		rp.mu.Unlock()
	}
}

// retire ends a state machine: waiting produces fail as not led here.
func (r *replicator) retire(rp *replPart) {
	rp.dead = true
	rp.role.Store(int32(replica.RoleNone))
	for id, ch := range rp.waiters {
		ch <- replica.ErrNotLeaderOrFollower
		delete(rp.waiters, id)
	}
}

// ensure returns the state machine of key, creating it from the local log
// and its epoch checkpoint (again if the catalogue reopened the partition).
func (r *replicator) ensure(key partKey, tp *topics.Partition, minISR int) (*replPart, error) {
	r.mu.Lock()
	rp := r.parts[key]
	r.mu.Unlock()
	if rp != nil && rp.tp == tp {
		return rp, nil
	}
	if rp != nil {
		rp.mu.Lock()
		r.retire(rp)
		rp.mu.Unlock()
	}
	dir := r.c.catalog.PartitionDir(tp.Topic.Name, tp.Index)
	ls := replica.LogState{LogStartOffset: tp.Log.StartOffset(), LogEndOffset: tp.Log.EndOffset()}
	ls.Epochs = loadEpochs(r.fs, dir, ls.LogEndOffset, r.log)
	// The last known high watermark, never 0 by default: a replica elected
	// before it relearns it would answer consumers with a regressed end.
	hw := loadHW(r.fs, dir, r.log)
	if rp != nil {
		hw = max(hw, rp.hw.Load())
	}
	ls.HighWatermark = min(max(hw, ls.LogStartOffset), ls.LogEndOffset)
	cfg := replica.DefaultConfig()
	cfg.ReplicaID, cfg.MinInsyncReplicas = r.c.nodeID, max(minISR, 1)
	cfg.ReplicaLagTimeMaxMs = r.c.cs.replicaLagTimeMax.Milliseconds()
	cfg.FetchTimeoutMs = replicaRequestTimeout.Milliseconds()
	cfg.FetchBackoffMs = 100
	cfg.AlterPartitionRetryMs = replicaRequestTimeout.Milliseconds()
	sm, err := replica.New(cfg, ls)
	if err != nil {
		return nil, err
	}
	rp = &replPart{key: key, tp: tp, dir: dir, sm: sm, minISR: minISR, waiters: map[uint64]chan error{}}
	rp.hw.Store(sm.HighWatermark())
	rp.hwSaved = hw
	r.mu.Lock()
	r.parts[key] = rp
	r.mu.Unlock()
	return rp, nil
}

// step applies one input and its Ready; rp.mu is held. It returns the
// leader's fetch answers the Ready carried.
func (r *replicator) step(rp *replPart, m replica.Msg) ([]replica.FetchResult, error) {
	return r.stepWith(rp, m, nil)
}

// stepWith is step with the raw batches of a fetch answer at hand, for
// the WriteAppend it may produce.
func (r *replicator) stepWith(rp *replPart, m replica.Msg, fetched map[int64][]byte) ([]replica.FetchResult, error) {
	err := rp.sm.Step(m)
	results := r.drain(rp, fetched)
	if rp.sm.Err() != nil {
		r.failPartition(rp)
	}
	return results, err
}

// failPartition handles a state machine that tripped an invariant: the
// failure is sticky (every later Step fails), so nothing would ever
// complete the acks=all produces waiting on it. They are answered
// NOT_LEADER_OR_FOLLOWER now (Kafka always answers a produce by its
// timeout; this one cannot succeed), and Produce refuses new ones before
// appending. Logged once, not per Step.
func (r *replicator) failPartition(rp *replPart) {
	if !rp.failed {
		rp.failed = true
		r.log.Error("replica invariant violated: the partition stops replicating and answers NOT_LEADER_OR_FOLLOWER",
			"partition", rp.sm.String(), "err", rp.sm.Err())
	}
	for id, ch := range rp.waiters {
		ch <- replica.ErrNotLeaderOrFollower
		delete(rp.waiters, id)
	}
	rp.role.Store(int32(replica.RoleNone))
}

// drain applies every pending Ready, in the order the package asks.
func (r *replicator) drain(rp *replPart, fetched map[int64][]byte) []replica.FetchResult {
	var results []replica.FetchResult
	for rp.sm.HasReady() {
		rd := rp.sm.Ready()
		for _, w := range rd.Writes {
			if err := r.write(rp, w, fetched); err != nil {
				// The state machine now believes a write that did not
				// happen; the partition log is failed (partlog) and
				// refuses further writes, so nothing wrong is served.
				r.log.Error("replica log write", "partition", rp.sm.String(), "kind", w.Kind, "err", err)
			}
		}
		if rd.EpochsChanged {
			if err := saveEpochs(r.fs, rp.dir, rd.Epochs); err != nil {
				r.log.Error("leader-epoch-checkpoint", "dir", rp.dir, "err", err)
			}
		}
		if rd.Fetch != nil {
			f := *rd.Fetch
			rp.fetch = &f
			r.wakeFetcher(f.Leader)
		}
		results = append(results, rd.FetchResults...)
		if rd.AlterPartition != nil {
			r.proposeISR(rp, *rd.AlterPartition)
		}
		for _, c := range rd.Completions {
			if ch, ok := rp.waiters[c.ID]; ok {
				ch <- c.Err
				delete(rp.waiters, c.ID)
			}
		}
		rp.sm.Advance()
	}
	rp.role.Store(int32(rp.sm.Role()))
	rp.epochStart.Store(rp.sm.EpochStartOffset())
	hw := rp.sm.HighWatermark()
	if faults.Planted(faults.HWBeyondISR) && rp.sm.Role() == replica.RoleLeader { // planted bug (faults.go)
		hw = rp.tp.Log.EndOffset()
	}
	if rp.hw.Swap(hw) != hw {
		r.c.catalog.Notify() // consumers read up to it, followers learn it
	}
	return results
}

func (r *replicator) write(rp *replPart, w replica.LogWrite, fetched map[int64][]byte) error {
	l := rp.tp.Log
	switch w.Kind {
	case replica.WriteTruncate: // the producer state rolls back with the log
		if faults.Planted(faults.SkipTruncation) { // planted bug (faults.go)
			return nil
		}
		return r.c.catalog.TruncateTo(rp.tp, w.Offset)
	case replica.WriteTruncateFully:
		return r.c.catalog.TruncateFullyAndStartAt(rp.tp, w.Offset)
	case replica.WriteLogStart:
		return l.DeleteRecordsBefore(w.Offset)
	case replica.WriteAppend:
		if faults.Planted(faults.SkipTruncation) { // planted bug (faults.go)
			return appendOverKeptTail(rp.tp, w, fetched)
		}
		for _, b := range w.Batches {
			raw, ok := fetched[b.BaseOffset]
			if !ok {
				return fmt.Errorf("fetch %d: no fetched batch at %d", w.FetchID, b.BaseOffset)
			}
			if err := rp.tp.AppendReplica(raw); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown log write %d", w.Kind)
}

// proposeISR sends an ISR proposal to the controller and feeds its answer
// back; a failed round trip is retried by the state machine.
func (r *replicator) proposeISR(rp *replPart, req replica.AlterPartitionRequest) {
	r.c.pidMu.Lock()
	lc := r.c.lc
	r.c.pidMu.Unlock()
	if lc == nil {
		return
	}
	epoch := lc.Status().Epoch
	before := rp.sm.ISR() // the committed ISR the proposal changes (rp.mu is held)
	r.goTracked(func() {
		ctx, cancel := context.WithTimeout(r.ctx, replicaRequestTimeout)
		defer cancel()
		res, err := r.c.client.AlterPartition(ctx, r.c.nodeID, epoch, []controller.AlterPartitionItem{{
			TopicID: metadata.UUID(rp.key.topic), PartitionID: rp.key.index, LeaderEpoch: req.LeaderEpoch,
			PartitionEpoch: req.PartitionEpoch, ISR: req.ISR, ISREpochs: req.ISREpochs}})
		if err != nil || len(res) != 1 {
			r.log.Debug("AlterPartition", "partition", rp.key.index, "err", err)
			return
		}
		resp := replica.AlterPartitionResponse{ProposalID: req.ID, Leader: res[0].Leader, LeaderEpoch: res[0].LeaderEpoch,
			PartitionEpoch: res[0].PartitionEpoch, ISR: res[0].ISR}
		if res[0].Err != nil {
			resp.Err = replica.FromCode(controller.Code(res[0].Err))
		}
		rp.mu.Lock()
		defer rp.mu.Unlock()
		if resp.Err == nil {
			// Committed: counted even when the image carrying it reached
			// the state machine first.
			r.countISRChange(before, resp.ISR)
		}
		if !rp.dead {
			r.step(rp, resp)
		}
	})
}

// countISRChange counts a committed ISR change in IsrShrinks/IsrExpands
// (Kafka counts both when one change removes and adds members).
func (r *replicator) countISRChange(before, after []int32) {
	for _, id := range before {
		if !slices.Contains(after, id) {
			r.c.b.metrics.IsrShrunk()
			break
		}
	}
	for _, id := range after {
		if !slices.Contains(before, id) {
			r.c.b.metrics.IsrExpanded()
			break
		}
	}
}

// goTracked runs fn on a goroutine run waits for, unless run has ended.
func (r *replicator) goTracked(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		fn()
	}()
}

// Produce implements handler.Replication.
func (r *replicator) Produce(topicID [16]byte, index int32, acks int16, timeout time.Duration,
	appendFn func(leaderEpoch int32) (int64, error)) (<-chan error, error) {
	rp := r.get(topicID, index)
	if rp == nil {
		return nil, replica.ErrNotLeaderOrFollower
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.dead || rp.failed {
		return nil, replica.ErrNotLeaderOrFollower
	}
	if err := rp.sm.CheckAppend(acks); err != nil {
		return nil, err
	}
	epoch := rp.sm.LeaderEpoch()
	before := rp.tp.Log.EndOffset()
	last, err := appendFn(epoch)
	if err != nil {
		return nil, err
	}
	if end := rp.tp.Log.EndOffset(); end > before { // not a duplicate
		if _, err := r.step(rp, replica.Appended{Batches: []replica.Batch{{BaseOffset: before, LastOffset: end - 1, LeaderEpoch: epoch}}}); err != nil {
			return nil, err
		}
	}
	if acks == -1 && faults.Planted(faults.AckBeforeReplication) { // planted bug (faults.go)
		return ackedNow(), nil
	}
	id := r.ids.Add(1)
	ch := make(chan error, 1)
	rp.waiters[id] = ch
	if _, err := r.step(rp, replica.Produce{ID: id, LastOffset: last, Acks: acks, DeadlineMs: r.nowMs() + timeout.Milliseconds()}); err != nil {
		delete(rp.waiters, id)
		if rp.failed {
			return nil, replica.ErrNotLeaderOrFollower
		}
		return nil, err
	}
	return ch, nil
}

// HighWatermark implements handler.Replication.
func (r *replicator) HighWatermark(topicID [16]byte, index int32) (int64, error) {
	rp := r.get(topicID, index)
	if rp == nil || replica.Role(rp.role.Load()) != replica.RoleLeader {
		return 0, replica.ErrNotLeaderOrFollower
	}
	if faults.Planted(faults.StaleRead) { // planted bug (faults.go)
		return staleHighWatermark(rp, rp.hw.Load(), r.now()), nil
	}
	return rp.hw.Load(), nil
}

// ReplicaHighWatermark is the high watermark this replica knows, leader or
// follower (a follower's is what its leader last told it): what a follower
// chosen as a consumer's preferred read replica (KIP-392) serves up to.
func (r *replicator) ReplicaHighWatermark(topicID [16]byte, index int32) (int64, error) {
	rp := r.get(topicID, index)
	if rp == nil {
		return 0, replica.ErrNotLeaderOrFollower
	}
	return rp.hw.Load(), nil
}

// LatestOffset implements handler.Replication: the high watermark, or
// OFFSET_NOT_AVAILABLE while a new leader's is still below its epoch
// start offset (KIP-207: the previous leader may have committed up to
// there, so answering less would show clients a regressed end; they
// retry).
func (r *replicator) LatestOffset(topicID [16]byte, index int32) (int64, error) {
	hw, err := r.HighWatermark(topicID, index)
	if err != nil {
		return 0, err
	}
	rp := r.get(topicID, index)
	if rp == nil {
		return 0, replica.ErrNotLeaderOrFollower
	}
	if start := rp.epochStart.Load(); hw < start {
		return 0, fmt.Errorf("%w: high watermark %d below leader epoch start %d", kerr.OffsetNotAvailable, hw, start)
	}
	return hw, nil
}

// FollowerFetch implements handler.Replication.
func (r *replicator) FollowerFetch(topicID [16]byte, index int32, f replica.FollowerFetch) (replica.FetchResult, error) {
	rp := r.get(topicID, index)
	if rp == nil {
		return replica.FetchResult{}, replica.ErrNotLeaderOrFollower
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.dead {
		return replica.FetchResult{}, replica.ErrNotLeaderOrFollower
	}
	f.Token = r.ids.Add(1)
	if f.ReplicaEpoch <= 0 {
		// The handler does not pass Fetch's ReplicaState.ReplicaEpoch: the
		// registration this node's image holds stands in. A fetch from a
		// new incarnation the image does not know yet is tagged with the
		// old epoch, which the controller refuses (KIP-903): safe, and the
		// next fetch after the image catches up counts.
		if b, ok := r.c.srv.State().Image.Broker(f.ReplicaID); ok {
			f.ReplicaEpoch = b.Epoch
		}
	}
	results, err := r.step(rp, f)
	if err != nil {
		return replica.FetchResult{}, err
	}
	for _, res := range results {
		if res.Token == f.Token {
			return res, nil
		}
	}
	return replica.FetchResult{}, replica.ErrNotLeaderOrFollower
}

// EndOffsetForEpoch implements handler.Replication.
func (r *replicator) EndOffsetForEpoch(topicID [16]byte, index int32, currentLeaderEpoch, epoch int32) (replica.EpochEndOffset, error) {
	rp := r.get(topicID, index)
	if rp == nil {
		return replica.EpochEndOffset{Epoch: replica.UndefinedEpoch, EndOffset: replica.UndefinedOffset}, replica.ErrNotLeaderOrFollower
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.dead {
		return replica.EpochEndOffset{Epoch: replica.UndefinedEpoch, EndOffset: replica.UndefinedOffset}, replica.ErrNotLeaderOrFollower
	}
	return rp.sm.EndOffsetForEpoch(currentLeaderEpoch, epoch)
}
