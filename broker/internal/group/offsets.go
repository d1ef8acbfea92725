package group

import (
	"cmp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *Coordinator) topicExists(topic string, partition int32) bool {
	return c.cfg.TopicExists == nil || c.cfg.TopicExists(topic, partition)
}

func (c *Coordinator) topicName(id [16]byte) (string, bool) {
	if c.cfg.TopicNameByID == nil {
		return "", false
	}
	return c.cfg.TopicNameByID(id)
}

func (c *Coordinator) topicID(name string) [16]byte {
	if c.cfg.TopicIDByName == nil {
		return [16]byte{}
	}
	id, _ := c.cfg.TopicIDByName(name)
	return id
}

// OffsetCommit handles an OffsetCommitRequest. done is called once the
// accepted offsets are durable (or their write failed), possibly before
// OffsetCommit returns.
func (c *Coordinator) OffsetCommit(now time.Time, req *kmsg.OffsetCommitRequest, done func(*kmsg.OffsetCommitResponse)) {
	resp := kmsg.NewPtrOffsetCommitResponse()
	resp.Version = req.Version
	// codes[i][j] answers req.Topics[i].Partitions[j]; -1 = accepted.
	codes := make([][]int16, len(req.Topics))
	setAll := func(code int16) {
		for i := range codes {
			for j := range codes[i] {
				codes[i][j] = code
			}
		}
	}
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
	}
	reply := func() {
		for i, t := range req.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for j, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, max(codes[i][j], 0)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		done(resp)
	}
	g, code := c.commitGroup(now, req)
	if code != 0 {
		setAll(code)
		reply()
		return
	}
	var records []KV
	var accepted []func()
	for i, t := range req.Topics {
		topic := t.Topic
		if req.Version >= 10 && topic == "" { // v10 names topics by id; a caller may have resolved it already
			name, ok := c.topicName(t.TopicID)
			if !ok {
				for j := range codes[i] {
					codes[i][j] = kerr.UnknownTopicID.Code
				}
				continue
			}
			topic = name
		}
		for j, p := range t.Partitions {
			switch {
			case !c.topicExists(topic, p.Partition):
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
				continue
			case p.Metadata != nil && len(*p.Metadata) > c.cfg.OffsetMetadataMaxBytes:
				codes[i][j] = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			o := commitFromRequest(now, req, p)
			tp := topicPartition{topic, p.Partition}
			codes[i][j] = -1
			records = append(records, KV{Key: offsetKey(g.id, topic, p.Partition), Value: offsetValue(o)})
			accepted = append(accepted, func() { g.offsets[tp] = o })
		}
	}
	c.persist(records, func(err error) {
		for i := range codes {
			for j := range codes[i] {
				if codes[i][j] == -1 && err != nil {
					codes[i][j] = kerr.CoordinatorNotAvailable.Code
				}
			}
		}
		if err == nil {
			for _, apply := range accepted {
				apply()
			}
		}
		reply()
	})
}

func commitFromRequest(now time.Time, req *kmsg.OffsetCommitRequest, p kmsg.OffsetCommitRequestTopicPartition) committedOffset {
	o := committedOffset{offset: p.Offset, leaderEpoch: -1, commitTime: now}
	if p.Metadata != nil {
		o.metadata = *p.Metadata
	}
	if req.Version >= 6 {
		o.leaderEpoch = p.LeaderEpoch
	}
	if req.Version == 1 && p.Timestamp != -1 {
		o.commitTime = time.UnixMilli(p.Timestamp)
	}
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis != -1 {
		o.expireTime = now.Add(time.Duration(req.RetentionTimeMillis) * time.Millisecond)
	}
	return o
}

// commitGroup finds (or, for a simple commit, creates) the group an
// OffsetCommit targets and fences stale members, as Kafka's
// validateOffsetCommit does. A non-zero code applies to every partition.
func (c *Coordinator) commitGroup(now time.Time, req *kmsg.OffsetCommitRequest) (*group, int16) {
	generation, memberID, instanceID := req.Generation, req.MemberID, req.InstanceID
	if req.Version == 0 { // v0 carries no generation or member: a simple commit
		generation, memberID, instanceID = -1, "", nil
	}
	g, ok := c.groups[req.Group]
	if !ok {
		if generation >= 0 {
			// A generation for a group we do not know: a member of a group
			// that has since gone away.
			return nil, kerr.IllegalGeneration.Code
		}
		g = newGroup(req.Group, now)
		c.groups[req.Group] = g
	}
	if generation >= 0 || memberID != "" || instanceID != nil {
		if code := g.validateMember(memberID, instanceID); code != 0 {
			return nil, code
		}
		if generation != g.generation {
			return nil, kerr.IllegalGeneration.Code
		}
	} else if g.state != StateEmpty {
		// Once a group has members, only members may commit.
		return nil, kerr.UnknownMemberID.Code
	}
	switch g.state {
	case StateCompletingRebalance:
		// The member knows the new generation but has no assignment yet.
		return nil, kerr.RebalanceInProgress.Code
	case StateStable, StatePreparingRebalance:
		// Committing during PreparingRebalance is allowed: the member learns
		// of the rebalance from its next heartbeat.
		if m, ok := g.members[memberID]; ok {
			m.deadline = now.Add(m.sessionTO)
		}
	}
	return g, 0
}

// OffsetFetch handles an OffsetFetchRequest (v0-7: one group; v8+: many). It
// never parks. RequireStable (v7+, KIP-447) answers UNSTABLE_OFFSET_COMMIT
// for partitions with a transactional commit pending (the client retries
// until the transaction ended).
func (c *Coordinator) OffsetFetch(now time.Time, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.Version = req.Version
	if req.Version < 8 {
		var topics []kmsg.OffsetFetchRequestGroupTopic
		if req.Topics != nil || req.Version < 2 { // null = all, from v2
			topics = []kmsg.OffsetFetchRequestGroupTopic{}
		}
		for _, t := range req.Topics {
			topics = append(topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t.Topic, Partitions: t.Partitions})
		}
		rg := c.fetchGroup(req.Version, req.Group, topics)
		for _, t := range rg.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		resp.ErrorCode = rg.ErrorCode
		if req.RequireStable {
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					rp := &resp.Topics[i].Partitions[j]
					if c.hasPending(req.Group, resp.Topics[i].Topic, rp.Partition) {
						rp.ErrorCode, rp.Offset = kerr.UnstableOffsetCommit.Code, -1
					}
				}
			}
		}
		return resp
	}
	for _, rgq := range req.Groups {
		rg := c.fetchGroup(req.Version, rgq.Group, rgq.Topics)
		if req.RequireStable {
			c.markUnstable(&rg)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

func (c *Coordinator) fetchGroup(version int16, id string, topics []kmsg.OffsetFetchRequestGroupTopic) kmsg.OffsetFetchResponseGroup {
	rg := kmsg.NewOffsetFetchResponseGroup()
	rg.Group = id
	g := c.groups[id]
	partition := func(topic string, p int32) kmsg.OffsetFetchResponseGroupTopicPartition {
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p, -1, -1
		empty := ""
		rp.Metadata = &empty
		if g == nil {
			return rp
		}
		if o, ok := g.offsets[topicPartition{topic, p}]; ok {
			rp.Offset, rp.LeaderEpoch = o.offset, o.leaderEpoch
			md := o.metadata
			rp.Metadata = &md
		}
		return rp
	}
	if topics == nil { // every committed offset
		if g == nil {
			return rg
		}
		byTopic := map[string][]int32{}
		for tp := range g.offsets {
			byTopic[tp.topic] = append(byTopic[tp.topic], tp.partition)
		}
		names := make([]string, 0, len(byTopic))
		for t := range byTopic {
			names = append(names, t)
		}
		slices.Sort(names)
		for _, t := range names {
			slices.Sort(byTopic[t])
			topics = append(topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t, TopicID: c.topicID(t), Partitions: byTopic[t]})
		}
	} else if version >= 10 {
		topics = slices.Clone(topics) // do not write into the caller's request
		for i := range topics {
			if topics[i].Topic == "" {
				topics[i].Topic, _ = c.topicName(topics[i].TopicID)
			}
		}
	}
	for _, t := range topics {
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := partition(t.Topic, p)
			if version >= 10 && t.Topic == "" {
				rp.ErrorCode = kerr.UnknownTopicID.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		rg.Topics = append(rg.Topics, rt)
	}
	return rg
}

// OffsetDelete handles an OffsetDeleteRequest (KIP-496). done runs once the
// tombstones are durable.
func (c *Coordinator) OffsetDelete(now time.Time, req *kmsg.OffsetDeleteRequest, done func(*kmsg.OffsetDeleteResponse)) {
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.Version = req.Version
	g, ok := c.groups[req.Group]
	switch {
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
	case !ok:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
	case g.state != StateEmpty && g.protocolType != consumerProtocolType:
		resp.ErrorCode = kerr.NonEmptyGroup.Code
	}
	if resp.ErrorCode != 0 {
		done(resp)
		return
	}
	var remove []topicPartition
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case !c.topicExists(t.Topic, p.Partition):
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case g.state != StateEmpty && g.isSubscribedTo(t.Topic):
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				remove = append(remove, topicPartition{t.Topic, p.Partition})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	c.persist(c.removeOffsets(g, remove), func(error) { done(resp) })
}

// removeOffsets drops offsets and returns their tombstones, plus the group's
// own tombstone when that leaves an Empty group with nothing in it. Like
// Kafka, memory changes at once and a failed write is only logged: the
// offsets may come back on the next load.
func (c *Coordinator) removeOffsets(g *group, tps []topicPartition) []KV {
	var records []KV
	for _, tp := range tps {
		if _, ok := g.offsets[tp]; ok {
			delete(g.offsets, tp)
			records = append(records, KV{Key: offsetKey(g.id, tp.topic, tp.partition)})
		}
	}
	if g.isEmptyOfEverything() {
		g.transition(StateDead, g.stateTime)
		delete(c.groups, g.id)
		if g.generation > 0 { // generation 0 groups never wrote a group record
			records = append(records, groupTombstone(g.id))
		}
	}
	return records
}

// expireOffsets applies offsets.retention.minutes with Kafka 2.1+ (KIP-211)
// semantics and removes groups left with nothing.
func (c *Coordinator) expireOffsets(now time.Time) {
	var records []KV
	for _, id := range c.sortedGroups() {
		g := c.groups[id]
		var expired []topicPartition
		for tp, o := range g.offsets {
			if c.offsetExpired(g, tp, o, now) {
				expired = append(expired, tp)
			}
		}
		slices.SortFunc(expired, func(a, b topicPartition) int {
			return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
		})
		if len(expired) > 0 {
			c.log.Info("offsets expired", "group", id, "count", len(expired))
		}
		records = append(records, c.removeOffsets(g, expired)...)
	}
	c.persist(records, func(err error) {
		if err != nil {
			c.log.Warn("writing offset expiry tombstones failed", "err", err)
		}
	})
}

func (c *Coordinator) offsetExpired(g *group, tp topicPartition, o committedOffset, now time.Time) bool {
	var base time.Time
	switch {
	case g.protocolType != "" && g.state == StateEmpty:
		// Retention counts from when the group became Empty.
		base = g.stateTime
	case g.protocolType == consumerProtocolType && g.subscribedKnown && g.state == StateStable:
		// Live consumer group: only offsets of topics nobody subscribes to.
		if g.subscribed[tp.topic] {
			return false
		}
		base = o.commitTime
	case g.protocolType == "":
		// Simple (offsets-only) group: by commit time.
		base = o.commitTime
	default:
		return false
	}
	if !o.expireTime.IsZero() {
		return !now.Before(o.expireTime)
	}
	return now.Sub(base) >= c.cfg.OffsetsRetention
}
