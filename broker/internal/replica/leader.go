package replica

import (
	"fmt"
	"slices"
)

// leaderState is what only a leader keeps.
type leaderState struct {
	isr        []int32 // committed ISR, sorted
	proposal   *proposal
	epochStart int64 // log end offset when this leader epoch began
	followers  []*remote
	waiters    []Produce
	hwFloor    int64 // high watermark when the epoch began: it never goes below
}

// proposal is an AlterPartition in flight. Until the controller answers,
// the maximal ISR (committed plus proposed) governs the high watermark.
type proposal struct {
	req          AlterPartitionRequest
	sentMs       int64
	awaitingMeta bool // the controller said our view is stale: wait for metadata, do not retry
}

// remote is the leader's view of one follower (Kafka's Replica state).
type remote struct {
	id             int32
	leo            int64 // last fetch offset; -1 unknown
	logStart       int64
	lastCaughtUpMs int64
	lastFetchLEO   int64 // leader log end offset at the previous fetch
	lastFetchMs    int64
	maxLEO         int64 // highest fetch offset this epoch, for the acked-on-isr assertion
	brokerEpoch    int64 // of the incarnation whose last fetch counted; ≤ 0 unknown
}

// reset is Kafka's resetReplicaState on a leader epoch change: ISR members
// count as caught up now, others not at all (so a stale follower does not
// hold the high watermark). A new leader forgets follower positions; a
// re-elected one keeps them.
func (r *remote) reset(nowMs, leaderLEO int64, isNewLeader, inISR bool) {
	caughtUp := int64(0)
	if inISR {
		caughtUp = nowMs
	}
	if isNewLeader {
		*r = remote{id: r.id, leo: -1, logStart: -1, lastFetchLEO: -1, lastCaughtUpMs: caughtUp, maxLEO: -1}
		return
	}
	r.lastFetchLEO, r.lastFetchMs, r.lastCaughtUpMs, r.maxLEO = leaderLEO, nowMs, caughtUp, r.leo
}

// updateFetch is Kafka's updateFetchStateOrThrow: a follower is caught up at
// the time of a fetch whose offset reaches the leader's end, and at the time
// of the previous fetch if this one reaches what the leader's end was then.
func (r *remote) updateFetch(fetchOffset, logStart, nowMs, leaderLEO int64) {
	switch {
	case fetchOffset >= leaderLEO:
		r.lastCaughtUpMs = max(r.lastCaughtUpMs, nowMs)
	case fetchOffset >= r.lastFetchLEO:
		r.lastCaughtUpMs = max(r.lastCaughtUpMs, r.lastFetchMs)
	}
	r.leo, r.logStart = fetchOffset, logStart
	r.maxLEO = max(r.maxLEO, fetchOffset)
	r.lastFetchLEO = max(r.lastFetchLEO, leaderLEO)
	r.lastFetchMs = nowMs
}

func (r *remote) caughtUp(leaderLEO, nowMs, maxLagMs int64) bool {
	return r.leo == leaderLEO || nowMs-r.lastCaughtUpMs <= maxLagMs
}

// syncFollowers keeps one remote per assigned follower, new ones unknown.
func (p *Partition) syncFollowers() {
	var next []*remote
	for _, id := range p.replicas {
		if id == p.cfg.ReplicaID {
			continue
		}
		if i := slices.IndexFunc(p.followers, func(r *remote) bool { return r.id == id }); i >= 0 {
			next = append(next, p.followers[i])
			continue
		}
		next = append(next, &remote{id: id, leo: -1, logStart: -1, lastFetchLEO: -1, maxLEO: -1})
	}
	p.followers = next
}

func (p *Partition) remote(id int32) *remote {
	for _, r := range p.followers {
		if r.id == id {
			return r
		}
	}
	return nil
}

func (p *Partition) maximalISR() []int32 {
	m := slices.Clone(p.isr)
	if p.proposal != nil {
		for _, id := range p.proposal.req.ISR {
			if !slices.Contains(m, id) {
				m = append(m, id)
			}
		}
		slices.Sort(m)
	}
	return m
}

func (p *Partition) eligible(id int32) bool { return !slices.Contains(p.ineligible, id) }

// followerFetch serves a follower's fetch (Kafka's Partition.fetchRecords for
// a follower): epoch fencing, then the diverging-epoch check against the
// fetch's last fetched epoch (KIP-320), then the offset range; only a fetch
// that passes them all updates the follower's state. The high watermark in
// the answer is the one before this fetch's update, as in Kafka.
func (p *Partition) followerFetch(m FollowerFetch) error {
	res := FetchResult{ReplicaID: m.ReplicaID, Token: m.Token, HighWatermark: p.hw,
		LogStartOffset: p.logStart, LogEndOffset: p.leo, ReadOffset: -1}
	defer func() { p.out.FetchResults = append(p.out.FetchResults, res) }()
	if res.Err = p.ValidateLeaderEpoch(m.CurrentLeaderEpoch, true); res.Err != nil {
		return nil
	}
	r := p.remote(m.ReplicaID)
	if r == nil {
		res.Err = ErrNotLeaderOrFollower
		if m.CurrentLeaderEpoch >= 0 {
			res.Err = ErrUnknownLeaderEpoch // KRaft: (replica, epoch) not known yet
		}
		return nil
	}
	if m.LastFetchedEpoch >= 0 {
		end := p.epochs.endOffsetFor(m.LastFetchedEpoch, p.leo)
		if end.EndOffset == UndefinedOffset || end.Epoch == UndefinedEpoch || m.FetchOffset < p.logStart {
			res.Err = ErrOffsetOutOfRange
			return nil
		}
		if end.Epoch < m.LastFetchedEpoch || end.EndOffset < m.FetchOffset {
			res.Diverging = &end
			return nil
		}
	}
	if m.FetchOffset < p.logStart || m.FetchOffset > p.leo {
		res.Err = ErrOffsetOutOfRange
		return nil
	}
	res.ReadOffset = m.FetchOffset
	prev := r.leo
	r.updateFetch(m.FetchOffset, m.LogStartOffset, p.nowMs, p.leo)
	if m.ReplicaEpoch > 0 {
		r.brokerEpoch = m.ReplicaEpoch
	}
	p.maybeExpandISR(r)
	if r.leo != prev {
		p.maybeAdvanceHW()
		p.completeWaiters()
	}
	return nil
}

// maybeExpandISR proposes adding a follower that reached the high watermark
// and has fetched from this epoch (so it truncated any diverged tail).
func (p *Partition) maybeExpandISR(r *remote) {
	if p.proposal != nil || slices.Contains(p.isr, r.id) || !p.eligible(r.id) {
		return
	}
	if r.leo >= p.hw && r.leo >= p.epochStart {
		p.propose(append(slices.Clone(p.isr), r.id))
	}
}

// maybeShrinkISR proposes removing ISR followers that have not caught up
// within replica.lag.time.max.ms.
func (p *Partition) maybeShrinkISR() {
	if p.proposal != nil {
		return
	}
	var keep []int32
	for _, id := range p.isr {
		r := p.remote(id)
		if id == p.cfg.ReplicaID || (r != nil && r.caughtUp(p.leo, p.nowMs, p.cfg.ReplicaLagTimeMaxMs)) {
			keep = append(keep, id)
		}
	}
	if len(keep) < len(p.isr) {
		p.propose(keep)
	}
}

func (p *Partition) propose(isr []int32) {
	p.proposalSeq++
	p.proposal = &proposal{
		req: AlterPartitionRequest{ID: p.proposalSeq, LeaderEpoch: p.leaderEpoch,
			PartitionEpoch: p.partitionEpoch, ISR: sortedIDs(isr)},
		sentMs: p.nowMs,
	}
	p.sendProposal()
}

// sendProposal puts the pending proposal in Ready, with the broker epochs
// of its followers as last seen (KIP-903).
func (p *Partition) sendProposal() {
	req := p.proposal.req
	req.ISR = slices.Clone(req.ISR)
	for _, id := range req.ISR {
		if r := p.remote(id); r != nil && r.brokerEpoch > 0 {
			if req.ISREpochs == nil {
				req.ISREpochs = map[int32]int64{}
			}
			req.ISREpochs[id] = r.brokerEpoch
		}
	}
	p.out.AlterPartition = &req
}

// alterPartitionResponse applies the controller's answer to the pending
// proposal (Kafka's handleAlterPartitionUpdate / Error).
func (p *Partition) alterPartitionResponse(m AlterPartitionResponse) {
	if p.role != RoleLeader || p.proposal == nil || m.ProposalID != p.proposal.req.ID {
		return
	}
	switch {
	case m.Err == nil:
	case isAny(m.Err, ErrOperationNotAttempted, ErrIneligibleReplica):
		// The controller says it did not apply it: back to the committed ISR.
		p.proposal = nil
		return
	case isAny(m.Err, ErrFencedLeaderEpoch, ErrInvalidUpdateVersion, ErrUnknownTopicOrPartition,
		ErrNewLeaderElected, ErrInvalidRequest):
		// Our view is stale; newer metadata is on its way and will replace
		// the pending state.
		p.proposal.awaitingMeta = true
		return
	default:
		p.resendProposal()
		return
	}
	if m.LeaderEpoch != p.leaderEpoch || m.PartitionEpoch < p.partitionEpoch {
		return
	}
	if !slices.Contains(m.ISR, p.cfg.ReplicaID) {
		p.fail("isr-contains-leader", "controller committed isr %v without leader %d", m.ISR, p.cfg.ReplicaID)
		return
	}
	p.isr, p.partitionEpoch, p.proposal = sortedIDs(m.ISR), m.PartitionEpoch, nil
	p.maybeAdvanceHW()
	p.completeWaiters()
}

func (p *Partition) resendProposal() {
	p.proposal.sentMs = p.nowMs
	p.sendProposal()
}

// maybeAdvanceHW sets the high watermark to the smallest log end offset over
// the maximal ISR and over caught-up eligible followers not yet in it (Kafka
// waits for those so they can join), never moving it back.
func (p *Partition) maybeAdvanceHW() {
	if p.role != RoleLeader {
		return
	}
	if p.cfg.HoldHighWatermarkUnderMinISR && len(p.isr) < p.effectiveMinISR() {
		return
	}
	maximal := p.maximalISR()
	hw := p.leo
	for _, r := range p.followers {
		wait := slices.Contains(maximal, r.id) ||
			(p.eligible(r.id) && r.caughtUp(p.leo, p.nowMs, p.cfg.ReplicaLagTimeMaxMs))
		if wait && r.leo < hw {
			hw = r.leo
		}
	}
	if hw <= p.hw {
		return
	}
	for _, id := range maximal {
		if r := p.remote(id); r != nil && r.leo < hw {
			p.fail("hw-within-isr", "hw %d above isr member %d leo %d", hw, id, r.leo)
			return
		}
	}
	p.hw = hw
	p.out.HighWatermarkChanged = true
}

func (p *Partition) appendedAsLeader(m Appended) error {
	if p.role != RoleLeader {
		return fmt.Errorf("%w: append reported while %s", ErrNotLeaderOrFollower, p.role)
	}
	next := p.leo
	for _, b := range m.Batches {
		if b.BaseOffset != next || b.LastOffset < b.BaseOffset || b.LeaderEpoch != p.leaderEpoch {
			return fmt.Errorf("%w: leader append %+v at log end %d, epoch %d", ErrBadInput, b, next, p.leaderEpoch)
		}
		next = b.LastOffset + 1
	}
	p.leo = next
	p.maybeAdvanceHW()
	p.completeWaiters()
	return nil
}

func (p *Partition) produce(m Produce) error {
	if p.role != RoleLeader {
		p.out.Completions = append(p.out.Completions, Completion{ID: m.ID, LastOffset: m.LastOffset, Err: ErrNotLeaderOrFollower})
		return nil
	}
	if m.LastOffset >= p.leo || m.LastOffset < 0 {
		return fmt.Errorf("%w: produce up to %d, log end %d", ErrBadInput, m.LastOffset, p.leo)
	}
	if m.Acks != AcksAll {
		p.out.Completions = append(p.out.Completions, Completion{ID: m.ID, LastOffset: m.LastOffset})
		return nil
	}
	p.waiters = append(p.waiters, m)
	p.completeWaiters()
	return nil
}

// completeWaiters finishes acks=all produces the high watermark passed
// (Kafka's checkEnoughReplicasReachOffset): NOT_ENOUGH_REPLICAS_AFTER_APPEND
// when the maximal ISR is below min.insync.replicas by then.
func (p *Partition) completeWaiters() {
	if p.role != RoleLeader {
		return
	}
	maximal := p.maximalISR()
	kept := p.waiters[:0]
	for _, w := range p.waiters {
		if p.hw <= w.LastOffset {
			kept = append(kept, w)
			continue
		}
		c := Completion{ID: w.ID, LastOffset: w.LastOffset}
		if len(maximal) < p.effectiveMinISR() {
			c.Err = ErrNotEnoughReplicasAfterAppend
		} else {
			for _, id := range maximal {
				// A member this leader has not heard from in its epoch
				// (maxLEO -1: a re-elected leader whose ISR gained a
				// restarted member, or a high watermark carried over) is
				// no evidence either way; hw-within-isr guards every
				// advance the leader makes itself.
				if r := p.remote(id); r != nil && r.maxLEO >= 0 && r.maxLEO <= w.LastOffset {
					p.fail("acked-on-isr", "offset %d acked, isr member %d reached only %d", w.LastOffset, id, r.maxLEO)
					return
				}
			}
		}
		p.out.Completions = append(p.out.Completions, c)
	}
	p.waiters = kept
}

func (p *Partition) expireWaiters() {
	kept := p.waiters[:0]
	for _, w := range p.waiters {
		if w.DeadlineMs <= p.nowMs {
			p.out.Completions = append(p.out.Completions, Completion{ID: w.ID, LastOffset: w.LastOffset, Err: ErrRequestTimedOut})
			continue
		}
		kept = append(kept, w)
	}
	p.waiters = kept
}

func (p *Partition) tick() {
	switch p.role {
	case RoleLeader:
		p.maybeShrinkISR()
		if pr := p.proposal; pr != nil && !pr.awaitingMeta && p.nowMs-pr.sentMs >= p.cfg.AlterPartitionRetryMs {
			p.resendProposal()
		}
		// A follower's caught-up window may have closed: it no longer holds
		// the high watermark.
		p.maybeAdvanceHW()
		p.completeWaiters()
		p.expireWaiters()
	case RoleFollower:
		f := &p.fetching
		if f.outstanding != 0 && p.nowMs-f.sentMs >= p.cfg.FetchTimeoutMs {
			f.outstanding = 0
		}
	}
}
