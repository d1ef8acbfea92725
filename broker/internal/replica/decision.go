package replica

import (
	"fmt"
	"slices"
)

// applyPartitionState applies a controller decision (Kafka's makeLeader /
// makeFollower under KRaft): a decision with an older partition epoch is
// stale and ignored; an equal one is a repeat (or the metadata echo of an
// AlterPartition already applied) and only refreshes assignment and ISR.
func (p *Partition) applyPartitionState(m PartitionState) error {
	if err := validatePartitionState(m); err != nil {
		return err
	}
	if m.PartitionEpoch < p.partitionEpoch {
		return nil
	}
	if m.LeaderEpoch < p.leaderEpoch {
		return fmt.Errorf("%w: epochs-only-grow: leader epoch %d after %d (partition epoch %d >= %d)",
			ErrBadInput, m.LeaderEpoch, p.leaderEpoch, m.PartitionEpoch, p.partitionEpoch)
	}
	if latest := p.epochs.latestEpoch(); m.LeaderEpoch < latest {
		// The local log already holds records (or an epoch start) of a
		// later leader epoch, so the controller has moved past this
		// decision: it comes from a stale metadata image, e.g. the one a
		// restarted broker replays before it caught up with the quorum.
		// Kafka's makeLeader/makeFollower skip it; applying it would leave
		// the log ahead of the leader epoch (the sticky epochs-only-grow
		// invariant). Refused with the state unchanged; the caught-up
		// image brings the current decision.
		return fmt.Errorf("%w: %w: leader epoch %d below the log's latest epoch %d",
			ErrBadInput, ErrStaleDecision, m.LeaderEpoch, latest)
	}
	self := p.cfg.ReplicaID
	if m.PartitionEpoch == p.partitionEpoch && m.LeaderEpoch == p.leaderEpoch && m.Leader == p.leader && p.role != RoleNone {
		// A repeat of the decision already applied. Kafka's makeLeader
		// re-commits the ISR and so drops a pending AlterPartition; we keep
		// it: the controller may still apply that proposal (a repeat can be
		// reordered behind it), and the maximal ISR must cover it until a
		// higher partition epoch settles it either way.
		p.ineligible = slices.Clone(m.Ineligible)
		return nil
	}
	if !slices.Contains(m.Replicas, self) {
		// Reassigned away: stop serving, keep the log for the driver to delete.
		p.stopLeading()
		p.role, p.leader, p.leaderEpoch, p.partitionEpoch = RoleNone, m.Leader, m.LeaderEpoch, m.PartitionEpoch
		p.replicas, p.isr = slices.Clone(m.Replicas), nil
		p.fetching = fetchIdle()
		return nil
	}
	if m.PartitionEpoch == p.partitionEpoch && (m.Leader != p.leader || m.LeaderEpoch != p.leaderEpoch) {
		return fmt.Errorf("%w: partition epoch %d reused for leader %d epoch %d (was leader %d epoch %d)",
			ErrBadInput, m.PartitionEpoch, m.Leader, m.LeaderEpoch, p.leader, p.leaderEpoch)
	}
	if m.Leader == self {
		if m.LeaderEpoch == p.leaderEpoch && p.role != RoleLeader {
			// Leadership always comes with a new leader epoch.
			return fmt.Errorf("%w: leader %d at epoch %d already known with leader %d", ErrBadInput, self, m.LeaderEpoch, p.leader)
		}
		p.becomeLeader(m)
	} else {
		p.becomeFollower(m)
	}
	return nil
}

func validatePartitionState(m PartitionState) error {
	if m.LeaderEpoch < 0 || m.PartitionEpoch < 0 || len(m.Replicas) == 0 {
		return fmt.Errorf("%w: partition state epochs %d/%d, replicas %v", ErrBadInput, m.LeaderEpoch, m.PartitionEpoch, m.Replicas)
	}
	if hasDuplicates(m.Replicas) || hasDuplicates(m.ISR) {
		return fmt.Errorf("%w: duplicate replica in %v / isr %v", ErrBadInput, m.Replicas, m.ISR)
	}
	for _, id := range m.ISR {
		if !slices.Contains(m.Replicas, id) {
			return fmt.Errorf("%w: isr member %d not a replica %v", ErrBadInput, id, m.Replicas)
		}
	}
	if m.Leader >= 0 && !slices.Contains(m.ISR, m.Leader) {
		return fmt.Errorf("%w: isr-contains-leader: leader %d not in isr %v", ErrBadInput, m.Leader, m.ISR)
	}
	return nil
}

func hasDuplicates(ids []int32) bool {
	s := slices.Clone(ids)
	slices.Sort(s)
	return len(slices.Compact(s)) != len(ids)
}

// becomeLeader: a new leader epoch records where the epoch starts (the
// current log end: followers with a longer log for an older epoch truncate
// to it) and resets what is known of the followers; a repeat at the same
// epoch only takes the committed ISR and drops any pending proposal, as
// Kafka does.
func (p *Partition) becomeLeader(m PartitionState) {
	// Kafka keeps follower positions when a leader is re-elected. That is
	// only sound if no other leader came between: the controller bumps the
	// leader epoch by one per decision, so a larger jump means this replica
	// missed a decision (another leader may have made followers truncate)
	// and must forget the positions as a new leader does.
	isNewLeader := p.role != RoleLeader || m.LeaderEpoch != p.leaderEpoch+1
	isNewEpoch := m.LeaderEpoch > p.leaderEpoch
	p.role, p.leader, p.partitionEpoch = RoleLeader, p.cfg.ReplicaID, m.PartitionEpoch
	p.replicas, p.ineligible = slices.Clone(m.Replicas), slices.Clone(m.Ineligible)
	p.isr = sortedIDs(m.ISR)
	p.proposal = nil
	p.fetching = fetchIdle()
	p.syncFollowers()
	if isNewEpoch {
		p.leaderEpoch = m.LeaderEpoch
		p.epochStart = p.leo
		if !p.epochs.assign(m.LeaderEpoch, p.leo) {
			p.fail("epochs-only-grow", "cannot start epoch %d at %d after %v", m.LeaderEpoch, p.leo, p.epochs.entries)
			return
		}
		for _, f := range p.followers {
			f.reset(p.nowMs, p.epochStart, isNewLeader, slices.Contains(p.isr, f.id))
		}
		p.hwFloor = p.hw
	}
	p.maybeAdvanceHW()
	p.completeWaiters()
}

// becomeFollower: a new leader epoch (or leader) restarts fetching; the log is
// not truncated here, the first fetch's diverging epoch does that (KIP-320).
func (p *Partition) becomeFollower(m PartitionState) {
	restart := p.role != RoleFollower || m.LeaderEpoch > p.leaderEpoch || m.Leader != p.leader
	p.stopLeading()
	p.role, p.leader, p.leaderEpoch, p.partitionEpoch = RoleFollower, m.Leader, m.LeaderEpoch, m.PartitionEpoch
	p.replicas, p.ineligible = slices.Clone(m.Replicas), slices.Clone(m.Ineligible)
	if restart {
		p.fetching = fetchIdle()
	}
}

// stopLeading drops leader-only state and fails waiting produces with
// NOT_LEADER_OR_FOLLOWER, as Kafka's delayed produce does once the
// partition is no longer led here.
func (p *Partition) stopLeading() {
	for _, w := range p.waiters {
		p.out.Completions = append(p.out.Completions, Completion{ID: w.ID, LastOffset: w.LastOffset, Err: ErrNotLeaderOrFollower})
	}
	p.leaderState = leaderState{}
}

func sortedIDs(ids []int32) []int32 {
	s := slices.Clone(ids)
	slices.Sort(s)
	return s
}
