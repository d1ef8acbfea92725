package handler

// DeleteTopics (key 20), versions 1-6 (Kafka 4.0's floor is 1).
//
// Deletes topics by name, or by topic id (v6+), removing their data at once.
// Deleting an internal topic, or any topic with delete.topic.enable=false,
// is refused (TOPIC_DELETION_DISABLED).
// Differs from Kafka: deletion is synchronous (Kafka renames the directories
// and deletes them later).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteTopics, 1, 6, (*Server).deleteTopics) }

func (s *Server) deleteTopics(ctx context.Context, _ *Conn, req *kmsg.DeleteTopicsRequest) (*kmsg.DeleteTopicsResponse, error) {
	if s.cfg.Cluster != nil {
		return s.clusterDeleteTopics(ctx, req), nil
	}
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{t.Topic, t.TopicID})
		}
	} else {
		for _, name := range req.TopicNames {
			targets = append(targets, target{name: &name})
		}
	}
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		t, ok := s.lookupTopic(tg.name, tg.id)
		switch {
		case !ok && tg.name == nil:
			st.ErrorCode = kerr.UnknownTopicID.Code
		case !ok:
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case !s.cfg.Broker.Bool("delete.topic.enable") || t.Internal:
			st.ErrorCode = kerr.TopicDeletionDisabled.Code
		default:
			name := t.Name
			st.Topic, st.TopicID = &name, t.ID
			if err := s.cfg.Topics.Delete(t.Name); err != nil {
				st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			} else {
				s.log.Info("deleted topic", "topic", t.Name)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
