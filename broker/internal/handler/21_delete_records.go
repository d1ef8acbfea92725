package handler

// DeleteRecords (key 21), versions 0-2.
//
// Raises a partition's log start offset to the given offset (-1 means the
// high watermark), deleting whole segments below it; reads below the new
// start get OFFSET_OUT_OF_RANGE. An offset above the high watermark is
// OFFSET_OUT_OF_RANGE. The response's low watermark is the new start.
// A topic whose cleanup.policy lacks delete (compact only) refuses it with
// POLICY_VIOLATION, as Kafka does.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/config"
)

func init() { register(kmsg.DeleteRecords, 0, 2, (*Server).deleteRecords) }

func (s *Server) deleteRecords(_ context.Context, _ *Conn, req *kmsg.DeleteRecordsRequest) (*kmsg.DeleteRecordsResponse, error) {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t, ok := s.cfg.Topics.Get(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			p, err := s.partition(t, ok, rp.Partition, false)
			if err == nil {
				policy, _ := s.cfg.Broker.Topic(t.Configs(), "cleanup.policy")
				if deletes, _ := config.CleanupPolicy(policy); !deletes {
					err = kerrWithMessage(kerr.PolicyViolation, "Records of partition %s-%d can not be deleted due to the configured policy", t.Name, rp.Partition)
				}
			}
			if err == nil {
				offset := rp.Offset
				if offset == -1 {
					offset = p.Log.EndOffset()
				}
				if err = p.Log.DeleteRecordsBefore(offset); err == nil {
					sp.LowWatermark = p.Log.StartOffset()
				}
			}
			sp.ErrorCode = errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	s.cfg.Topics.Notify() // long polls report the new log start offset
	return resp, nil
}
