package handler

// OffsetDelete (key 47), version 0.
//
// KIP-496: deletes committed offsets of a group. Partitions of topics a live
// consumer group subscribes to are refused with GROUP_SUBSCRIBED_TO_TOPIC;
// a live group of another protocol type gets NON_EMPTY_GROUP; unknown
// topic-partitions (as the broker's TopicExists reports them) get
// UNKNOWN_TOPIC_OR_PARTITION. Same range as Kafka 4.0.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetDelete, 0, 0, (*Server).offsetDelete) }

func (s *Server) offsetDelete(ctx context.Context, _ *Conn, req *kmsg.OffsetDeleteRequest) (*kmsg.OffsetDeleteResponse, error) {
	if s.cfg.Groups == nil {
		return nil, errNoGroupCoordinator
	}
	return parked(s.cfg.Groups.OffsetDelete(ctx, req), ctx)
}
