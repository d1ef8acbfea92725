package handler

// OffsetCommit (key 8), versions 0-10.
//
// Commits are acknowledged only once durable in __consumer_offsets. Fencing
// follows Kafka's classic coordinator: generation -1 with no member id is a
// simple commit, allowed only while the group has no members; otherwise the
// member id / group.instance.id (v7+) and generation must be current
// (UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION), and a group
// awaiting its leader's assignment answers REBALANCE_IN_PROGRESS. v1's
// per-partition commit timestamp and v2-4's RetentionTimeMillis (per-offset
// expiry) are honoured; leader epochs are stored from v6. v10 (KIP-848 era)
// names topics by id: the ids are resolved here through the topic catalog,
// unknown ids get UNKNOWN_TOPIC_ID.
// Difference from Kafka 4.0: Kafka 4.0 removed v0-1 (KIP-896); they are kept
// for old clients (kafka-python 2.0.2). v0 commits, which Kafka stored in
// ZooKeeper, land in the same store as every other version.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetCommit, 0, 10, (*Server).offsetCommit) }

func (s *Server) offsetCommit(ctx context.Context, _ *Conn, req *kmsg.OffsetCommitRequest) (*kmsg.OffsetCommitResponse, error) {
	if s.cfg.Groups == nil {
		return nil, errNoGroupCoordinator
	}
	if req.Version >= 10 && s.cfg.Topics != nil {
		for i := range req.Topics {
			if t, ok := s.cfg.Topics.GetByID(req.Topics[i].TopicID); ok {
				req.Topics[i].Topic = t.Name
			}
		}
	}
	return parked(s.cfg.Groups.OffsetCommit(ctx, req), ctx)
}
