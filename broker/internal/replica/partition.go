package replica

import (
	"fmt"
	"slices"
)

// Role of this replica for the partition.
type Role uint8

const (
	// RoleNone: no controller decision applied yet, or this replica is no
	// longer assigned.
	RoleNone Role = iota
	RoleLeader
	RoleFollower
)

func (r Role) String() string {
	switch r {
	case RoleLeader:
		return "leader"
	case RoleFollower:
		return "follower"
	default:
		return "none"
	}
}

// Partition is the replication state machine of one partition replica. See
// the package documentation for the contract.
type Partition struct {
	cfg   Config
	nowMs int64
	err   error // sticky invariant failure

	role           Role
	leader         int32
	leaderEpoch    int32
	partitionEpoch int32
	replicas       []int32
	ineligible     []int32

	// Local log as the state machine knows it (Writes already handed out
	// count as done: the driver applies them before acting on anything else).
	logStart int64
	leo      int64
	hw       int64
	epochs   epochCache

	leaderState
	followerState

	// Request ids only grow over the life of the replica, across roles, so
	// an answer to an old request never matches a new one.
	fetchSeq    uint64
	proposalSeq uint64

	out           Ready
	pending       bool   // a Ready was handed out and not yet Advanced
	epochsVersion uint64 // epoch cache version last handed out
}

// New returns the state machine for a replica whose local log is log. It
// takes no role until the first PartitionState.
func New(cfg Config, log LogState) (*Partition, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := log.validate(); err != nil {
		return nil, err
	}
	p := &Partition{
		cfg:         cfg,
		leader:      -1,
		leaderEpoch: -1,
		logStart:    log.LogStartOffset,
		leo:         log.LogEndOffset,
		hw:          min(max(log.HighWatermark, log.LogStartOffset), log.LogEndOffset),
		epochs:      epochCache{entries: slices.Clone(log.Epochs)},
	}
	p.partitionEpoch = -1
	return p, nil
}

// Step applies one input. It returns ErrBadInput (state unchanged) for a
// message no correct peer sends, and ErrInvariant once a safety property
// failed. Stale messages (old epochs, answers to superseded requests) are
// ignored without error: networks deliver them.
func (p *Partition) Step(m Msg) error {
	if p.err != nil {
		return p.err
	}
	var err error
	switch m := m.(type) {
	case PartitionState:
		p.observe(m.NowMs)
		err = p.applyPartitionState(m)
	case Appended:
		err = p.appendedAsLeader(m)
	case Produce:
		err = p.produce(m)
	case FollowerFetch:
		p.observe(m.NowMs)
		err = p.followerFetch(m)
	case FetchResponse:
		p.observe(m.NowMs)
		err = p.fetchResponse(m)
	case AlterPartitionResponse:
		p.alterPartitionResponse(m)
	case Tick:
		p.observe(m.NowMs)
		p.tick()
	case LogStartAdvanced:
		err = p.logStartAdvanced(m.Offset)
	case MinISRChanged:
		if m.MinInsyncReplicas < 1 {
			return fmt.Errorf("%w: min.insync.replicas %d", ErrBadInput, m.MinInsyncReplicas)
		}
		p.cfg.MinInsyncReplicas = m.MinInsyncReplicas
		p.maybeAdvanceHW()
		p.completeWaiters()
	default:
		return fmt.Errorf("%w: unknown message %T", ErrBadInput, m)
	}
	if err != nil {
		return err
	}
	p.maybeFetch()
	return p.checkInvariants()
}

// observe keeps the clock monotonic: inputs may carry times out of order.
func (p *Partition) observe(nowMs int64) { p.nowMs = max(p.nowMs, nowMs) }

// HasReady reports whether Ready has something and the previous one was
// advanced.
func (p *Partition) HasReady() bool {
	return !p.pending && (!p.out.Empty() || p.epochs.version != p.epochsVersion)
}

// Ready hands out everything accumulated since the last Ready. Until Advance
// it returns an empty Ready, so log writes of two Readys never overlap.
func (p *Partition) Ready() Ready {
	if p.pending {
		return Ready{}
	}
	if p.epochs.version != p.epochsVersion {
		p.out.EpochsChanged, p.out.Epochs = true, p.epochs.snapshot()
	}
	rd := p.out
	rd.HighWatermark = p.hw
	p.epochsVersion = p.epochs.version
	p.out = Ready{}
	p.pending = !rd.Empty()
	return rd
}

// Advance acknowledges the last Ready: its writes are applied and its
// messages sent.
func (p *Partition) Advance() { p.pending = false }

// Queries. They never change state.

func (p *Partition) Role() Role              { return p.role }
func (p *Partition) Leader() int32           { return p.leader }
func (p *Partition) LeaderEpoch() int32      { return p.leaderEpoch }
func (p *Partition) PartitionEpoch() int32   { return p.partitionEpoch }
func (p *Partition) HighWatermark() int64    { return p.hw }
func (p *Partition) LogEndOffset() int64     { return p.leo }
func (p *Partition) LogStartOffset() int64   { return p.logStart }
func (p *Partition) Epochs() []EpochEntry    { return p.epochs.snapshot() }
func (p *Partition) Err() error              { return p.err }
func (p *Partition) Replicas() []int32       { return slices.Clone(p.replicas) }
func (p *Partition) ISR() []int32            { return slices.Clone(p.isr) }
func (p *Partition) EpochStartOffset() int64 { return p.epochStart }

// MaximalISR is the committed ISR plus replicas a pending AlterPartition
// adds (KIP-497): the set the high watermark and acks=all wait for.
func (p *Partition) MaximalISR() []int32 {
	if p.role != RoleLeader {
		return nil
	}
	return p.maximalISR()
}

// ValidateLeaderEpoch is the check a client request carrying
// currentLeaderEpoch (-1 when absent) passes before touching the log:
// FENCED_LEADER_EPOCH when the client is behind, UNKNOWN_LEADER_EPOCH when
// ahead, NOT_LEADER_OR_FOLLOWER when leaderOnly and this replica does not
// lead (or has no role).
func (p *Partition) ValidateLeaderEpoch(currentLeaderEpoch int32, leaderOnly bool) error {
	if p.role == RoleNone || (leaderOnly && p.role != RoleLeader) {
		return ErrNotLeaderOrFollower
	}
	switch {
	case currentLeaderEpoch < 0:
		return nil
	case currentLeaderEpoch < p.leaderEpoch:
		return ErrFencedLeaderEpoch
	case currentLeaderEpoch > p.leaderEpoch:
		return ErrUnknownLeaderEpoch
	}
	return nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch (KIP-101/279/320) on the
// leader: the largest epoch not above epoch and where it ends.
func (p *Partition) EndOffsetForEpoch(currentLeaderEpoch, epoch int32) (EpochEndOffset, error) {
	if err := p.ValidateLeaderEpoch(currentLeaderEpoch, true); err != nil {
		return EpochEndOffset{Epoch: UndefinedEpoch, EndOffset: UndefinedOffset}, err
	}
	return p.epochs.endOffsetFor(epoch, p.leo), nil
}

// CheckAppend is the check before a leader append (Kafka's
// appendRecordsToLeader): NOT_LEADER_OR_FOLLOWER, or NOT_ENOUGH_REPLICAS for
// acks=all while the committed ISR is below min.insync.replicas. The caller
// holds the partition lock from here through the append and Step(Appended).
func (p *Partition) CheckAppend(acks int16) error {
	if p.err != nil {
		return p.err
	}
	if p.role != RoleLeader {
		return ErrNotLeaderOrFollower
	}
	if acks == AcksAll && len(p.isr) < p.effectiveMinISR() {
		return fmt.Errorf("%w: isr %v, min.insync.replicas %d", ErrNotEnoughReplicas, p.isr, p.effectiveMinISR())
	}
	return nil
}

func (p *Partition) effectiveMinISR() int {
	return max(1, min(p.cfg.MinInsyncReplicas, len(p.replicas)))
}

func (p *Partition) logStartAdvanced(offset int64) error {
	if offset < p.logStart {
		return nil // already there: retention reports can repeat
	}
	if offset > p.leo || (p.role == RoleLeader && offset > p.hw) {
		return fmt.Errorf("%w: log start %d beyond hw %d / leo %d", ErrBadInput, offset, p.hw, p.leo)
	}
	p.logStart = offset
	p.hw = max(p.hw, offset)
	p.epochs.truncateFromStart(offset)
	return nil
}

func (p *Partition) String() string {
	return fmt.Sprintf("replica %d %s epoch=%d pepoch=%d log=[%d,%d) hw=%d isr=%v",
		p.cfg.ReplicaID, p.role, p.leaderEpoch, p.partitionEpoch, p.logStart, p.leo, p.hw, p.isr)
}
