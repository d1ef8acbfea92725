package handler

// DescribeProducers (key 61), version 0 (KIP-664).
//
// For each listed partition this node leads, the producers its producer
// state holds (idempotent and transactional, not yet expired by
// producer.id.expiration.ms): id, epoch, last sequence (-1 when no batch
// of the current epoch is retained, e.g. right after a marker raised the
// epoch), last timestamp (the max timestamp of its last batch or marker),
// the coordinator epoch of its last transaction marker (-1 if none) and
// the first offset of its open transaction in the partition (-1 if none).
// Errors per partition: UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeProducers, 0, 0, (*Server).describeProducers) }

func (s *Server) describeProducers(_ context.Context, _ *Conn, req *kmsg.DescribeProducersRequest) (*kmsg.DescribeProducersResponse, error) {
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		t, ok := s.cfg.Topics.Get(rt.Topic)
		for _, index := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = index
			p, err := s.leaderPartition(t, ok, index, false, -1)
			if err != nil {
				sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			for _, pr := range p.Producers() {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID, ap.ProducerEpoch = pr.ID, int32(pr.Epoch)
				ap.LastSequence, ap.LastTimestamp = pr.LastSequence(), pr.LastTimestampMs
				ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = pr.CoordinatorEpoch, pr.CurrentTxnFirstOffset
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
