package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/highwater-io/highwater/broker/internal/topics"
)

// lookupTopic finds a topic by name, or by id when name is nil (v13+ APIs).
func (s *Server) lookupTopic(name *string, id [16]byte) (*topics.Topic, bool) {
	if name != nil {
		return s.cfg.Topics.Get(*name)
	}
	return s.cfg.Topics.GetByID(id)
}

// partition resolves one topic-partition, or the Kafka error for it.
func (s *Server) partition(t *topics.Topic, ok bool, index int32, byID bool) (*topics.Partition, error) {
	if !ok {
		if byID {
			return nil, kerr.UnknownTopicID
		}
		return nil, kerr.UnknownTopicOrPartition
	}
	p := t.Partition(index)
	if p == nil {
		return nil, kerr.UnknownTopicOrPartition
	}
	return p, nil
}

// checkLeaderEpoch applies KIP-320 fencing: this single node's leader epoch
// is always 0; -1 means the client does not know it.
func checkLeaderEpoch(clientEpoch int32) error {
	const leaderEpoch = 0
	switch {
	case clientEpoch < 0 || clientEpoch == leaderEpoch:
		return nil
	case clientEpoch < leaderEpoch:
		return kerr.FencedLeaderEpoch
	default:
		return kerr.UnknownLeaderEpoch
	}
}
