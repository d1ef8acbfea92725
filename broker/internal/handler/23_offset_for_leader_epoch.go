package handler

// OffsetForLeaderEpoch (key 23), versions 0-4 (KIP-101, KIP-279, KIP-320).
//
// For each partition: the largest leader epoch not above the requested
// one and the offset where it ends (the log end for the latest epoch, the
// start of the next epoch otherwise), as the partition's leader knows it
// from its leader-epoch cache. A client validating its position after a
// leader change (KIP-320) or a follower finding where its log diverged
// asks the leader; every other replica answers NOT_LEADER_OR_FOLLOWER, as
// Kafka does. CurrentLeaderEpoch (v2+) is checked as in Fetch
// (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH). Undefined answers are epoch
// -1, offset -1. A single node leads every partition at epoch 0 from its
// log start.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/replica"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

func init() { register(kmsg.OffsetForLeaderEpoch, 0, 4, (*Server).offsetForLeaderEpoch) }

func (s *Server) offsetForLeaderEpoch(_ context.Context, _ *Conn, req *kmsg.OffsetForLeaderEpochRequest) (*kmsg.OffsetForLeaderEpochResponse, error) {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t, ok := s.cfg.Topics.Get(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = replica.UndefinedEpoch, replica.UndefinedOffset
			current := rp.CurrentLeaderEpoch
			if req.Version < 2 {
				current = -1
			}
			p, err := s.leaderPartition(t, ok, rp.Partition, false, current)
			if err == nil {
				var eo replica.EpochEndOffset
				eo, err = s.endOffsetForEpoch(p, current, rp.LeaderEpoch)
				if err == nil {
					sp.LeaderEpoch, sp.EndOffset = eo.Epoch, eo.EndOffset
				}
			}
			sp.ErrorCode = errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// endOffsetForEpoch asks the replication driver in cluster mode; a single
// node's only epoch is 0, starting at its log start.
func (s *Server) endOffsetForEpoch(p *topics.Partition, current, epoch int32) (replica.EpochEndOffset, error) {
	if s.cfg.Replication != nil {
		eo, err := s.cfg.Replication.EndOffsetForEpoch(p.Topic.ID, p.Index, current, epoch)
		return eo, replicaErr(err)
	}
	if epoch < 0 {
		return replica.EpochEndOffset{Epoch: replica.UndefinedEpoch, EndOffset: replica.UndefinedOffset}, nil
	}
	if epoch > 0 {
		// Above every epoch this log has: unknown (Kafka's cache answers
		// undefined for an epoch newer than its latest).
		return replica.EpochEndOffset{Epoch: replica.UndefinedEpoch, EndOffset: replica.UndefinedOffset}, nil
	}
	return replica.EpochEndOffset{Epoch: 0, EndOffset: p.Log.EndOffset()}, nil
}
