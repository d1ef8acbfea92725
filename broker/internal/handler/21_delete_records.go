package handler

// DeleteRecords (key 21), versions 0-2.
//
// Raises a partition's log start offset to the given offset (-1 means the
// high watermark), deleting whole segments below it; reads below the new
// start get OFFSET_OUT_OF_RANGE. An offset above the high watermark is
// OFFSET_OUT_OF_RANGE. The response's low watermark is the new start.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
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
