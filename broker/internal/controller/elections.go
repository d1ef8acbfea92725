package controller

import (
	"fmt"
	"slices"

	"github.com/highwater-io/highwater/broker/internal/faults"
	"github.com/highwater-io/highwater/broker/internal/metadata"
)

// election is how a partition change picks its leader (KRaft's
// PartitionChangeBuilder.Election).
type election uint8

const (
	// electOnline keeps the leader if it is still acceptable, else takes
	// the first acceptable ISR member in replica order.
	electOnline election = iota
	// electPreferred takes the first replica if it is an acceptable ISR
	// member, else behaves as electOnline.
	electPreferred
	// electUnclean is electOnline, then falls back to any acceptable
	// replica outside the ISR, which becomes the whole ISR (data loss).
	electUnclean
)

// change describes a partition change to build.
type change struct {
	// remove leaves the ISR and may not lead (-1: none). A last ISR member
	// stays in the ISR (an ISR is never empty without ELR): the partition
	// goes leaderless instead.
	remove int32
	// isr, when set, is the target ISR (AlterPartition).
	isr      []int32
	election election
}

// buildChange returns the PartitionChangeRecord that takes p to the target
// of ch, and false when nothing changes. Acceptable leaders are active
// brokers other than ch.remove.
func buildChange(img metadata.Image, id metadata.UUID, pid int32, p metadata.Partition, ch change) (metadata.PartitionChangeRecord, bool) {
	isr := ch.isr
	if isr == nil {
		isr = slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return r == ch.remove })
	}
	if len(isr) == 0 {
		isr = p.ISR
	}
	isr = sorted(isr)
	acceptable := func(r int32) bool { return r != ch.remove && r >= 0 && active(img, r) }
	// An unclean ISR (KIP-966: its last member lost records in an unclean
	// shutdown) elects no one but by an unclean election.
	valid := func(r int32) bool { return !p.UncleanISR && slices.Contains(isr, r) && acceptable(r) }

	leader := metadata.NoLeader
	outOfSync := func(r int32) bool { return acceptable(r) && !slices.Contains(isr, r) }
	switch {
	case faults.Planted(faults.UncleanElection) && !valid(p.Leader) && slices.IndexFunc(p.Replicas, outOfSync) >= 0:
		// Planted bug (broker/internal/faults): elect a live replica
		// outside the ISR and count it in, though it may lack records.
		leader = p.Replicas[slices.IndexFunc(p.Replicas, outOfSync)]
		isr = sorted(append(slices.Clone(isr), leader))
	case ch.election == electPreferred && (valid(p.Replicas[0]) || faults.Planted(faults.UncleanElection) && acceptable(p.Replicas[0])):
		leader = p.Replicas[0]
	case valid(p.Leader):
		leader = p.Leader
	default:
		if i := slices.IndexFunc(p.Replicas, valid); i >= 0 {
			leader = p.Replicas[i]
		} else if ch.election == electUnclean {
			if i := slices.IndexFunc(p.Replicas, acceptable); i >= 0 {
				leader, isr = p.Replicas[i], []int32{p.Replicas[i]}
			}
		}
	}
	rec := metadata.PartitionChangeRecord{TopicID: id, PartitionID: pid, Leader: metadata.NoLeaderChange}
	if leader != p.Leader {
		rec.Leader = leader
	}
	if !slices.Equal(isr, sorted(p.ISR)) {
		rec.ISR = isr
	}
	return rec, rec.Leader != metadata.NoLeaderChange || rec.ISR != nil
}

func sorted(ids []int32) []int32 {
	s := slices.Clone(ids)
	slices.Sort(s)
	return s
}

// forEachPartition visits every partition in a fixed order (topics by
// name, partitions by id) on the transaction's current image.
func forEachPartition(t *txn, fn func(tp metadata.Topic, pid int32, p metadata.Partition)) {
	for _, tp := range t.img.Topics() {
		for i := range tp.Partitions {
			// Re-read: fn may have changed the partition before in the same
			// decision only through t, so take the latest.
			cur, _ := t.img.Partition(tp.ID, int32(i))
			fn(tp, int32(i), cur)
		}
	}
}

// updateLeadersAndISRs applies ch to every partition matching filter:
// KRaft's generateLeaderAndIsrUpdates. The election is unclean for topics
// with unclean.leader.election.enable, as in KRaft.
func (c *Controller) updateLeadersAndISRs(t *txn, ch change, filter func(metadata.Partition) bool) {
	forEachPartition(t, func(tp metadata.Topic, pid int32, p metadata.Partition) {
		if !filter(p) {
			return
		}
		pch := ch
		if c.uncleanEnabled(t.img, tp.Name) && pch.election == electOnline {
			pch.election = electUnclean
		}
		if rec, ok := buildChange(t.img, tp.ID, pid, p, pch); ok {
			t.add(rec)
		}
	})
}

// AlterPartitionItem is one partition of an AlterPartition request: the
// leader proposes a new ISR at the epochs it knows.
type AlterPartitionItem struct {
	TopicID        metadata.UUID
	PartitionID    int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
	// ISREpochs holds, per ISR member, the broker epoch of the process
	// whose fetches the leader counted (KIP-903; AlterPartition v3's
	// NewIsrWithEpochs). A member whose registered epoch differs is a
	// restarted broker judged on its previous incarnation's fetches:
	// INELIGIBLE_REPLICA. Members without an entry (or -1) are not checked.
	ISREpochs map[int32]int64
}

// AlterPartitionResult answers one item: the error, else the partition's
// state after the request (also when the ISR was already the proposed one).
type AlterPartitionResult struct {
	TopicID        metadata.UUID
	PartitionID    int32
	Err            error
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// AlterPartition handles ISR change proposals from a partition leader
// (KIP-497 / KIP-841). The returned error is request-level
// (STALE_BROKER_EPOCH); per-partition errors are in the results:
// NOT_CONTROLLER for epochs ahead of this controller's, FENCED_LEADER_EPOCH
// for an older leader epoch, INVALID_REQUEST from a non-leader or for an
// ISR outside the replicas or without the leader, INVALID_UPDATE_VERSION
// for an older partition epoch, INELIGIBLE_REPLICA when the ISR names a
// broker that is not registered, fenced or shutting down.
func (c *Controller) AlterPartition(brokerID int32, brokerEpoch int64, items []AlterPartitionItem) ([]AlterPartitionResult, []metadata.Record, error) {
	if err := c.checkBrokerEpoch(brokerID, brokerEpoch); err != nil {
		return nil, nil, err
	}
	t := c.begin()
	results := make([]AlterPartitionResult, 0, len(items))
	for _, it := range items {
		res := AlterPartitionResult{TopicID: it.TopicID, PartitionID: it.PartitionID}
		p, err := validateAlterPartition(t.img, brokerID, it)
		if err == nil && !slices.Equal(sorted(it.ISR), sorted(p.ISR)) {
			if rec, ok := buildChange(t.img, it.TopicID, it.PartitionID, p, change{remove: -1, isr: it.ISR}); ok {
				t.add(rec)
			}
			p, _ = t.img.Partition(it.TopicID, it.PartitionID)
		}
		res.Err = err
		if err == nil {
			res.Leader, res.LeaderEpoch, res.PartitionEpoch, res.ISR = p.Leader, p.LeaderEpoch, p.PartitionEpoch, slices.Clone(p.ISR)
		}
		results = append(results, res)
	}
	recs, err := c.commit(t)
	return results, recs, err
}

func validateAlterPartition(img metadata.Image, brokerID int32, it AlterPartitionItem) (metadata.Partition, error) {
	if _, ok := img.TopicByID(it.TopicID); !ok {
		return metadata.Partition{}, ErrUnknownTopicID
	}
	p, ok := img.Partition(it.TopicID, it.PartitionID)
	switch {
	case !ok:
		return p, ErrUnknownTopicOrPartition
	case it.LeaderEpoch > p.LeaderEpoch || it.PartitionEpoch > p.PartitionEpoch:
		// The leader knows a newer state than ours: we are a stale
		// controller.
		return p, fmt.Errorf("%w: epochs %d/%d ahead of %d/%d", ErrNotController, it.LeaderEpoch, it.PartitionEpoch, p.LeaderEpoch, p.PartitionEpoch)
	case it.LeaderEpoch < p.LeaderEpoch:
		return p, fmt.Errorf("%w: leader epoch %d < %d", ErrFencedLeaderEpoch, it.LeaderEpoch, p.LeaderEpoch)
	case brokerID != p.Leader:
		return p, fmt.Errorf("%w: broker %d is not the leader %d", ErrInvalidRequest, brokerID, p.Leader)
	case it.PartitionEpoch < p.PartitionEpoch:
		return p, fmt.Errorf("%w: partition epoch %d < %d", ErrInvalidUpdateVersion, it.PartitionEpoch, p.PartitionEpoch)
	case len(it.ISR) == 0 || hasDuplicates(it.ISR) || !isSubset(it.ISR, p.Replicas):
		return p, fmt.Errorf("%w: isr %v not a set within replicas %v", ErrInvalidRequest, it.ISR, p.Replicas)
	case !slices.Contains(it.ISR, p.Leader):
		return p, fmt.Errorf("%w: isr %v without the leader %d", ErrInvalidRequest, it.ISR, p.Leader)
	}
	for _, r := range it.ISR {
		if !active(img, r) {
			return p, fmt.Errorf("%w: broker %d is not registered, fenced or shutting down", ErrIneligibleReplica, r)
		}
		if e, ok := it.ISREpochs[r]; ok && e >= 0 {
			if b, _ := img.Broker(r); b.Epoch != e {
				return p, fmt.Errorf("%w: broker %d epoch %d is stale (registered %d)", ErrIneligibleReplica, r, e, b.Epoch)
			}
		}
	}
	return p, nil
}

func hasDuplicates(ids []int32) bool {
	s := sorted(ids)
	return len(slices.Compact(s)) != len(ids)
}

func isSubset(sub, set []int32) bool {
	for _, x := range sub {
		if !slices.Contains(set, x) {
			return false
		}
	}
	return true
}

// ElectionType is ElectLeaders' election type (Kafka: 0 preferred,
// 1 unclean).
type ElectionType int8

const (
	ElectPreferred ElectionType = 0
	ElectUnclean   ElectionType = 1
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ElectionResult answers one partition of ElectLeaders.
type ElectionResult struct {
	TopicPartition
	Err error
}

// ElectLeaders runs preferred or unclean elections (the ElectLeaders API).
// partitions nil means every partition, and then partitions whose election
// was not needed are left out of the results, as Kafka does. Preferred:
// ELECTION_NOT_NEEDED when the first replica leads, else it must be an
// active ISR member (PREFERRED_LEADER_NOT_AVAILABLE). Unclean:
// ELECTION_NOT_NEEDED when there is a leader, else an active ISR member,
// else any active replica (ELIGIBLE_LEADERS_NOT_AVAILABLE when none).
func (c *Controller) ElectLeaders(typ ElectionType, partitions []TopicPartition) ([]ElectionResult, []metadata.Record, error) {
	if typ != ElectPreferred && typ != ElectUnclean {
		return nil, nil, fmt.Errorf("%w: election type %d", ErrInvalidRequest, typ)
	}
	all := partitions == nil
	if all {
		for _, tp := range c.img.Topics() {
			for i := range tp.Partitions {
				partitions = append(partitions, TopicPartition{Topic: tp.Name, Partition: int32(i)})
			}
		}
	}
	t := c.begin()
	var results []ElectionResult
	for _, tp := range partitions {
		err := electOne(t, typ, tp)
		if all && err == ErrElectionNotNeeded {
			continue
		}
		results = append(results, ElectionResult{TopicPartition: tp, Err: err})
	}
	recs, err := c.commit(t)
	return results, recs, err
}

func electOne(t *txn, typ ElectionType, tp TopicPartition) error {
	topic, ok := t.img.TopicByName(tp.Topic)
	if !ok {
		return ErrUnknownTopicOrPartition
	}
	p, ok := t.img.Partition(topic.ID, tp.Partition)
	if !ok {
		return ErrUnknownTopicOrPartition
	}
	if (typ == ElectPreferred && p.Leader == p.Replicas[0]) || (typ == ElectUnclean && p.Leader != metadata.NoLeader) {
		return ErrElectionNotNeeded
	}
	ch := change{remove: -1, election: electPreferred}
	if typ == ElectUnclean {
		ch.election = electUnclean
	}
	// As in KRaft, a preferred election that cannot elect the preferred
	// replica still moves leadership off a leader that is no longer
	// acceptable, and that counts as done.
	rec, ok := buildChange(t.img, topic.ID, tp.Partition, p, ch)
	if !ok {
		if typ == ElectPreferred {
			return ErrPreferredLeaderNotAvailable
		}
		return ErrEligibleLeadersNotAvailable
	}
	t.add(rec)
	return nil
}

// rebalance is auto.leader.rebalance.enable's check: for every broker
// whose share of preferred partitions it does not lead is above
// leader.imbalance.per.broker.percentage, elect it where it is an active
// ISR member.
func (c *Controller) rebalance(t *txn) {
	preferred := map[int32]int{}
	notLeading := map[int32][]TopicPartition{}
	for _, tp := range t.img.Topics() {
		for i, p := range tp.Partitions {
			pref := p.Replicas[0]
			preferred[pref]++
			if p.Leader != pref {
				notLeading[pref] = append(notLeading[pref], TopicPartition{Topic: tp.Name, Partition: int32(i)})
			}
		}
	}
	for _, b := range t.img.Brokers() {
		n := len(notLeading[b.ID])
		if n == 0 || n*100 <= preferred[b.ID]*c.cfg.LeaderImbalancePerBrokerPercentage {
			continue
		}
		for _, tp := range notLeading[b.ID] {
			_ = electOne(t, ElectPreferred, tp) // not available: try again next check
		}
	}
}
