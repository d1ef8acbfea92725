package handler

// ListOffsets (key 2), versions 1-10 (Kafka 4.0's floor is 1).
//
// Timestamp -2 earliest (log start offset), -1 latest (the high watermark
// under read_uncommitted), -3 the record with the largest timestamp (v7+),
// -4 the earliest local offset (v8+; no tiered storage, so the log start
// offset), -5 latest tiered (v9+: nothing is tiered, offset -1); a
// timestamp >= 0 finds the first record whose timestamp is at least it, or
// offset -1 when none is. Under read_committed (IsolationLevel 1) latest is
// the last stable offset (the high watermark or, if smaller, the first
// offset of the oldest open transaction), and -3 and timestamp lookups
// answer only offsets below it (else -1), as Kafka does. Leader epochs are
// checked (KIP-320).
// Not implemented: v0 (old-style offsets), v11 (ListOffsets for tiered
// "earliest pending upload").

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

func init() { register(kmsg.ListOffsets, 1, 10, (*Server).listOffsets) }

// Special timestamps of ListOffsets.
const (
	listLatest         = -1
	listEarliest       = -2
	listMaxTimestamp   = -3
	listEarliestLocal  = -4
	listLatestTiered   = -5
	listEarliestUpload = -6
)

func (s *Server) listOffsets(_ context.Context, _ *Conn, req *kmsg.ListOffsetsRequest) (*kmsg.ListOffsetsResponse, error) {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t, ok := s.cfg.Topics.Get(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			p, err := s.leaderPartition(t, ok, rp.Partition, false, rp.CurrentLeaderEpoch)
			if err == nil {
				err = s.listOffset(req.Version, req.IsolationLevel, p, rp.Timestamp, &sp)
			}
			sp.ErrorCode = errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (s *Server) listOffset(version int16, isolation int8, p *topics.Partition, ts int64, sp *kmsg.ListOffsetsResponseTopicPartition) error {
	log := p.Log
	found := func(offset, timestamp int64) error {
		sp.Offset, sp.Timestamp, sp.LeaderEpoch = offset, timestamp, 0
		return nil
	}
	if isolation == readCommitted && ts != listLatest && ts != listEarliest && ts != listEarliestLocal {
		// Kafka answers a lookup only with an offset a read_committed
		// consumer could fetch: below the last stable offset.
		lso := log.FirstUnstableOffset()
		if s.cfg.Replication != nil {
			if hw, err := s.cfg.Replication.HighWatermark(p.Topic.ID, p.Index); err == nil {
				lso = min(lso, hw)
			}
		}
		inner := found
		found = func(offset, timestamp int64) error {
			if offset >= lso {
				return nil // not found: offset and timestamp stay -1
			}
			return inner(offset, timestamp)
		}
	}
	switch {
	case ts == listLatest && s.cfg.Replication != nil:
		hw, err := s.cfg.Replication.LatestOffset(p.Topic.ID, p.Index) // what consumers may read
		if err != nil {
			return replicaErr(err)
		}
		if isolation == readCommitted {
			hw = min(hw, log.FirstUnstableOffset())
		}
		return found(hw, -1)
	case ts == listLatest && isolation == readCommitted:
		return found(min(log.EndOffset(), log.FirstUnstableOffset()), -1)
	case ts == listLatest:
		return found(log.EndOffset(), -1)
	case ts == listEarliest, ts == listEarliestLocal && version >= 8:
		return found(log.StartOffset(), -1)
	case ts == listMaxTimestamp && version >= 7:
		maxTS, offset := log.MaxTimestamp()
		if offset < 0 {
			return nil
		}
		return found(offset, maxTS)
	case ts == listLatestTiered && version >= 9:
		return nil
	case ts < 0:
		return kerrWithMessage(kerr.InvalidRequest, "unsupported special timestamp %d at version %d", ts, version)
	}
	batch, ok, err := log.FindTimestamp(ts)
	if err != nil || !ok {
		return err
	}
	h, recs, err := records.Decode(batch)
	if err != nil {
		return err
	}
	for _, r := range recs {
		recordTS := h.FirstTimestamp + r.TimestampDelta
		if h.LogAppendTime() {
			recordTS = h.MaxTimestamp
		}
		if recordTS >= ts {
			return found(h.BaseOffset+int64(r.OffsetDelta), recordTS)
		}
	}
	// The batch's max timestamp qualified, so a record must have: only a
	// batch whose header disagrees with its records gets here.
	return found(h.LastOffset(), h.MaxTimestamp)
}
