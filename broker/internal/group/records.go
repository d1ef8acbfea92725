package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrBadRecord is wrapped by Load when a record cannot be decoded.
var ErrBadRecord = errors.New("group: undecodable __consumer_offsets record")

// Record encodings written, as Kafka 2.3+ writes them: offset key v1, offset
// value v3 (v1 when the commit carried an explicit expire time), group key
// v2, group value v3 (KIP-345 instance ids).
const (
	offsetKeyVersion        = 1
	offsetValueVersion      = 3
	offsetValueVersionClock = 1
	groupKeyVersion         = 2
	groupValueVersion       = 3
)

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.NewOffsetCommitKey()
	k.Version, k.Group, k.Topic, k.Partition = offsetKeyVersion, group, topic, partition
	return k.AppendTo(nil)
}

func offsetValue(o committedOffset) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	v.Offset, v.LeaderEpoch, v.Metadata = o.offset, o.leaderEpoch, o.metadata
	v.CommitTimestamp = o.commitTime.UnixMilli()
	if !o.expireTime.IsZero() {
		v.Version = offsetValueVersionClock
		v.ExpireTimestamp = o.expireTime.UnixMilli()
	}
	return v.AppendTo(nil)
}

func groupKey(id string) []byte {
	k := kmsg.NewGroupMetadataKey()
	k.Version, k.Group = groupKeyVersion, id
	return k.AppendTo(nil)
}

func (c *Coordinator) groupRecord(g *group) []KV {
	assignment := make(map[string][]byte, len(g.members))
	for id, m := range g.members {
		assignment[id] = m.assignment
	}
	return c.groupRecordWith(g, assignment)
}

// groupRecordWith is the GroupMetadataValue of g with the given assignment,
// like Kafka's storeGroup.
func (c *Coordinator) groupRecordWith(g *group, assignment map[string][]byte) []KV {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	v.Protocol = strPtr(g.protocol)
	v.Leader = strPtr(g.leader)
	v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	for _, id := range g.order {
		m := g.members[id]
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID = id, m.instanceID
		vm.ClientID, vm.ClientHost = m.clientID, m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTO / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.sessionTO / time.Millisecond)
		vm.Subscription = m.metadataFor(g.protocol)
		vm.Assignment = assignment[id]
		v.Members = append(v.Members, vm)
	}
	return []KV{{Key: groupKey(g.id), Value: v.AppendTo(nil)}}
}

func groupTombstone(id string) KV { return KV{Key: groupKey(id)} }

// Load replays __consumer_offsets records, in log order, into the state.
// Groups with members come back Stable (their sessions restart at now, so
// members that are gone expire and trigger a rebalance); groups without
// members come back Empty. Records of kinds this coordinator does not know
// (Kafka 4's consumer-group records, key versions 3+) are skipped.
func (c *Coordinator) Load(now time.Time, records []KV) error {
	for i, r := range records {
		if err := c.replay(now, r); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
	}
	for id, g := range c.groups {
		if g.isEmptyOfEverything() && g.generation == 0 {
			delete(c.groups, id)
		}
	}
	return nil
}

func (c *Coordinator) replay(now time.Time, r KV) error {
	if r.Txn != nil {
		return c.replayTxn(r)
	}
	if len(r.Key) < 2 {
		return fmt.Errorf("%w: key of %d bytes", ErrBadRecord, len(r.Key))
	}
	switch binary.BigEndian.Uint16(r.Key) {
	case 0, 1:
		return c.replayOffset(r)
	case 2:
		return c.replayGroup(now, r)
	default:
		return nil
	}
}

func (c *Coordinator) loadedGroup(id string, now time.Time) *group {
	g, ok := c.groups[id]
	if !ok {
		g = newGroup(id, now)
		c.groups[id] = g
	}
	return g
}

func (c *Coordinator) replayOffset(r KV) error {
	var k kmsg.OffsetCommitKey
	if err := k.ReadFrom(r.Key); err != nil {
		return fmt.Errorf("%w: offset key: %w", ErrBadRecord, err)
	}
	tp := topicPartition{k.Topic, k.Partition}
	if r.Value == nil {
		if g, ok := c.groups[k.Group]; ok {
			delete(g.offsets, tp)
		}
		return nil
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(r.Value); err != nil {
		return fmt.Errorf("%w: offset value: %w", ErrBadRecord, err)
	}
	o := committedOffset{
		offset:      v.Offset,
		leaderEpoch: -1,
		metadata:    v.Metadata,
		commitTime:  time.UnixMilli(v.CommitTimestamp),
	}
	if v.Version >= 3 {
		o.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 && v.ExpireTimestamp >= 0 {
		o.expireTime = time.UnixMilli(v.ExpireTimestamp)
	}
	c.loadedGroup(k.Group, o.commitTime).offsets[tp] = o
	return nil
}

func (c *Coordinator) replayGroup(now time.Time, r KV) error {
	var k kmsg.GroupMetadataKey
	if err := k.ReadFrom(r.Key); err != nil {
		return fmt.Errorf("%w: group key: %w", ErrBadRecord, err)
	}
	if r.Value == nil {
		// A group tombstone removes the group; its offsets were tombstoned
		// by their own records.
		delete(c.groups, k.Group)
		return nil
	}
	var v kmsg.GroupMetadataValue
	if err := v.ReadFrom(r.Value); err != nil {
		return fmt.Errorf("%w: group value: %w", ErrBadRecord, err)
	}
	g := c.loadedGroup(k.Group, now)
	offsets := g.offsets
	*g = *newGroup(k.Group, now)
	g.offsets = offsets
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.CurrentStateTimestamp >= 0 {
		g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
	}
	for _, vm := range v.Members {
		m := &member{
			id:           vm.MemberID,
			instanceID:   vm.InstanceID,
			clientID:     vm.ClientID,
			clientHost:   vm.ClientHost,
			sessionTO:    ms(vm.SessionTimeoutMillis),
			rebalanceTO:  ms(vm.RebalanceTimeoutMillis),
			protocolType: v.ProtocolType,
			protocols:    []protocol{{name: g.protocol, metadata: vm.Subscription}},
			assignment:   vm.Assignment,
			deadline:     now.Add(ms(vm.SessionTimeoutMillis)),
		}
		if v.Version < 1 || vm.RebalanceTimeoutMillis < 0 {
			m.rebalanceTO = m.sessionTO
		}
		g.add(m)
	}
	if v.Leader != nil && g.has(*v.Leader) {
		g.leader = *v.Leader
	}
	if len(g.members) > 0 {
		g.state = StateStable
		g.computeSubscribed()
	}
	return nil
}
