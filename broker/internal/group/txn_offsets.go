package group

// Transactional offset commits (TxnOffsetCommit, KIP-98/KIP-447): offsets
// a transactional producer sends for a group stay pending under its
// producer id, invisible to OffsetFetch (which answers
// UNSTABLE_OFFSET_COMMIT to RequireStable fetches), until the
// transaction's marker reaches the group's __consumer_offsets partition:
// COMMIT materializes them, ABORT drops them. Both the pending records and
// the marker are written to __consumer_offsets (a transactional batch of
// the producer, then its control record), so Load rebuilds exactly the
// same state.

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// MarkerKind says whether a TxnRecord is a control record, and which.
type MarkerKind int8

const (
	NotMarker MarkerKind = iota
	MarkerCommit
	MarkerAbort
)

// TxnRecord places a KV in a producer's transaction.
type TxnRecord struct {
	ProducerID    int64
	ProducerEpoch int16
	Marker        MarkerKind
	// Group is the group whose partition a marker goes to (a marker has
	// no key to place it by).
	Group string
}

// pendingTxn is one producer's uncommitted offsets, by group.
type pendingTxn struct {
	epoch   int16
	offsets map[string]map[topicPartition]committedOffset
}

func (c *Coordinator) pendingFor(pid int64, epoch int16) *pendingTxn {
	p := c.pending[pid]
	if p == nil {
		p = &pendingTxn{epoch: epoch, offsets: map[string]map[topicPartition]committedOffset{}}
		c.pending[pid] = p
	}
	p.epoch = max(p.epoch, epoch)
	return p
}

func (p *pendingTxn) put(group string, tp topicPartition, o committedOffset) {
	if p.offsets[group] == nil {
		p.offsets[group] = map[topicPartition]committedOffset{}
	}
	p.offsets[group][tp] = o
}

// hasPending reports whether any producer has an offset pending for the
// group's partition.
func (c *Coordinator) hasPending(group, topic string, partition int32) bool {
	for _, p := range c.pending {
		if _, ok := p.offsets[group][topicPartition{topic, partition}]; ok {
			return true
		}
	}
	return false
}

func (c *Coordinator) markUnstable(rg *kmsg.OffsetFetchResponseGroup) {
	for i := range rg.Topics {
		for j := range rg.Topics[i].Partitions {
			rp := &rg.Topics[i].Partitions[j]
			if c.hasPending(rg.Group, rg.Topics[i].Topic, rp.Partition) {
				rp.ErrorCode, rp.Offset = kerr.UnstableOffsetCommit.Code, -1
			}
		}
	}
}

// TxnOffsetCommit handles a TxnOffsetCommitRequest (v0-4). done runs once
// the pending offsets are durable (or their write failed).
func (c *Coordinator) TxnOffsetCommit(now time.Time, req *kmsg.TxnOffsetCommitRequest, done func(*kmsg.TxnOffsetCommitResponse)) {
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	resp.Version = req.Version
	codes := make([][]int16, len(req.Topics))
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
	}
	reply := func(err error) {
		for i, t := range req.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for j, p := range t.Partitions {
				code := codes[i][j]
				if code == -1 {
					code = 0
					if err != nil {
						code = kerr.CoordinatorNotAvailable.Code
					}
				}
				rt.Partitions = append(rt.Partitions, kmsg.TxnOffsetCommitResponseTopicPartition{Partition: p.Partition, ErrorCode: code})
			}
			resp.Topics = append(resp.Topics, rt)
		}
		done(resp)
	}
	g, code := c.txnCommitGroup(now, req)
	if code == 0 {
		if p := c.pending[req.ProducerID]; p != nil && req.ProducerEpoch < p.epoch {
			code = kerr.ProducerFenced.Code
			if req.Version < 3 {
				code = kerr.InvalidProducerEpoch.Code
			}
		}
	}
	if code != 0 {
		for i := range codes {
			for j := range codes[i] {
				codes[i][j] = code
			}
		}
		reply(nil)
		return
	}
	txn := &TxnRecord{ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch}
	var records []KV
	type accepted struct {
		tp topicPartition
		o  committedOffset
	}
	var ok []accepted
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			switch {
			case !c.topicExists(t.Topic, p.Partition):
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
				continue
			case p.Metadata != nil && len(*p.Metadata) > c.cfg.OffsetMetadataMaxBytes:
				codes[i][j] = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			o := committedOffset{offset: p.Offset, leaderEpoch: -1, commitTime: now}
			if p.Metadata != nil {
				o.metadata = *p.Metadata
			}
			if req.Version >= 2 {
				o.leaderEpoch = p.LeaderEpoch
			}
			codes[i][j] = -1
			tp := topicPartition{t.Topic, p.Partition}
			records = append(records, KV{Key: offsetKey(g.id, t.Topic, p.Partition), Value: offsetValue(o), Txn: txn})
			ok = append(ok, accepted{tp, o})
		}
	}
	c.persist(records, func(err error) {
		if err == nil && len(ok) > 0 {
			p := c.pendingFor(req.ProducerID, req.ProducerEpoch)
			for _, a := range ok {
				p.put(g.id, a.tp, a.o)
			}
		}
		reply(err)
	})
}

// txnCommitGroup is Kafka's validation of a TxnOffsetCommit: an unknown
// group is created (Empty) unless the request names a generation; v3+
// member fields are checked like OffsetCommit's when present.
func (c *Coordinator) txnCommitGroup(now time.Time, req *kmsg.TxnOffsetCommitRequest) (*group, int16) {
	g, ok := c.groups[req.Group]
	if !ok {
		if req.Version >= 3 && req.Generation >= 0 {
			return nil, kerr.IllegalGeneration.Code
		}
		g = newGroup(req.Group, now)
		c.groups[req.Group] = g
		return g, 0
	}
	if req.Version >= 3 && (req.MemberID != "" || req.InstanceID != nil || req.Generation >= 0) {
		if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
			return nil, code
		}
		if req.Generation != g.generation {
			return nil, kerr.IllegalGeneration.Code
		}
	}
	return g, 0
}

// CompleteTxn ends a producer's transaction for the groups owns selects
// (nil: every group; a single-node broker serves every __consumer_offsets
// partition from one Coordinator and completes per partition): the marker
// is written, then commit materializes the pending offsets and abort drops
// them. done runs once that is durable. A producer with nothing pending
// there writes nothing.
func (c *Coordinator) CompleteTxn(pid int64, epoch int16, commit bool, owns func(group string) bool, done func(error)) {
	p := c.pending[pid]
	var groups []string
	if p != nil {
		for g := range p.offsets {
			if owns == nil || owns(g) {
				groups = append(groups, g)
			}
		}
	}
	if len(groups) == 0 {
		done(nil)
		return
	}
	slices.Sort(groups)
	kind := MarkerAbort
	if commit {
		kind = MarkerCommit
	}
	// One marker per group is more than Kafka writes (one per partition),
	// but a group's records all live in one partition and the store
	// places a marker by its group; replaying a second marker for the same
	// producer finds nothing pending and is a no-op.
	var records []KV
	for _, g := range groups {
		records = append(records, KV{Txn: &TxnRecord{ProducerID: pid, ProducerEpoch: epoch, Marker: kind, Group: g}})
	}
	// A commit also writes the offsets as plain records: replay then needs
	// no transactional records to find them, and a Store that cannot write
	// transactional batches still keeps committed offsets.
	if commit {
		for _, g := range groups {
			tps := slices.Collect(maps.Keys(p.offsets[g]))
			slices.SortFunc(tps, func(a, b topicPartition) int {
				return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
			})
			for _, tp := range tps {
				records = append(records, KV{Key: offsetKey(g, tp.topic, tp.partition), Value: offsetValue(p.offsets[g][tp])})
			}
		}
	}
	c.persist(records, func(err error) {
		if err == nil {
			for _, g := range groups {
				c.completeGroup(pid, g, commit)
			}
		}
		done(err)
	})
}

func (c *Coordinator) completeGroup(pid int64, groupID string, commit bool) {
	p := c.pending[pid]
	if p == nil {
		return
	}
	if commit {
		if offs := p.offsets[groupID]; len(offs) > 0 {
			g, ok := c.groups[groupID]
			if !ok {
				g = newGroup(groupID, time.Time{})
				c.groups[groupID] = g
			}
			for tp, o := range offs {
				g.offsets[tp] = o
			}
		}
	}
	delete(p.offsets, groupID)
	if len(p.offsets) == 0 {
		delete(c.pending, pid)
	}
}

// replayTxn loads a record of a transactional batch or a marker.
func (c *Coordinator) replayTxn(r KV) error {
	t := r.Txn
	if t.Marker != NotMarker {
		if p := c.pending[t.ProducerID]; p != nil {
			var groups []string
			for g := range p.offsets {
				if t.Group == "" || g == t.Group {
					groups = append(groups, g)
				}
			}
			for _, g := range groups {
				c.completeGroup(t.ProducerID, g, t.Marker == MarkerCommit)
			}
		}
		return nil
	}
	var k kmsg.OffsetCommitKey
	if err := k.ReadFrom(r.Key); err != nil || len(r.Key) < 2 || k.Version > 1 {
		return fmt.Errorf("%w: transactional record is not an offset commit", ErrBadRecord)
	}
	if r.Value == nil {
		return nil
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(r.Value); err != nil {
		return fmt.Errorf("%w: offset value: %w", ErrBadRecord, err)
	}
	o := committedOffset{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitTime: time.UnixMilli(v.CommitTimestamp)}
	if v.Version >= 3 {
		o.leaderEpoch = v.LeaderEpoch
	}
	c.loadedGroup(k.Group, o.commitTime)
	c.pendingFor(t.ProducerID, t.ProducerEpoch).put(k.Group, topicPartition{k.Topic, k.Partition}, o)
	return nil
}
