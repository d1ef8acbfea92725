package handler

// OffsetFetch (key 9), versions 0-10.
//
// v0-7 fetch one group (null topics = every committed offset, from v2);
// v8+ fetch many groups in one request. Missing offsets are -1 with empty
// metadata. RequireStable (v7+) is accepted; with no transactional offset
// commits yet it never yields UNSTABLE_OFFSET_COMMIT. v9's member id/epoch
// (KIP-848 consumer groups) are ignored for classic groups, as Kafka does.
// v10 names topics by id, resolved here through the topic catalog.
// Difference from Kafka 4.0: Kafka 4.0 removed v0 (KIP-896), which read
// ZooKeeper-stored offsets; it is kept here, served from the same store.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetFetch, 0, 10, (*Server).offsetFetch) }

func (s *Server) offsetFetch(ctx context.Context, _ *Conn, req *kmsg.OffsetFetchRequest) (*kmsg.OffsetFetchResponse, error) {
	if s.cfg.Groups == nil {
		return nil, errNoGroupCoordinator
	}
	v10 := req.Version >= 10 && s.cfg.Topics != nil
	if v10 {
		for g := range req.Groups {
			for i, t := range req.Groups[g].Topics {
				if topic, ok := s.cfg.Topics.GetByID(t.TopicID); ok {
					req.Groups[g].Topics[i].Topic = topic.Name
				}
			}
		}
	}
	resp, err := parked(s.cfg.Groups.OffsetFetch(ctx, req), ctx)
	if err != nil || !v10 {
		return resp, err
	}
	for g := range resp.Groups {
		for i, t := range resp.Groups[g].Topics {
			if t.TopicID == ([16]byte{}) {
				if topic, ok := s.cfg.Topics.Get(t.Topic); ok {
					resp.Groups[g].Topics[i].TopicID = topic.ID
				}
			}
		}
	}
	return resp, nil
}
