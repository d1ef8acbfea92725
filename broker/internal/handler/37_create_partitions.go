package handler

// CreatePartitions (key 37), versions 0-3.
//
// Grows a topic's partition count; never shrinks (INVALID_PARTITIONS).
// Manual assignments must name only this node. ValidateOnly checks only.
// At most 10,000 new partitions per request, as KRaft allows
// (POLICY_VIOLATION past that).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.CreatePartitions, 0, 3, (*Server).createPartitions) }

func (s *Server) createPartitions(ctx context.Context, _ *Conn, req *kmsg.CreatePartitionsRequest) (*kmsg.CreatePartitionsResponse, error) {
	if s.cfg.Cluster != nil {
		return s.clusterCreatePartitions(ctx, req), nil
	}
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	budget := maxPartitionsPerRequest
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		if t, ok := s.cfg.Topics.Get(rt.Topic); ok && int(rt.Count)-len(t.Partitions()) > budget {
			err = kerrWithMessage(kerr.PolicyViolation, "excessively large number of partitions per request (at most %d)", maxPartitionsPerRequest)
		} else {
			if ok {
				budget -= max(0, int(rt.Count)-len(t.Partitions()))
			}
			err = s.createPartitionsOne(rt, req.ValidateOnly)
		}
		st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (s *Server) createPartitionsOne(rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	t, ok := s.cfg.Topics.Get(rt.Topic)
	if !ok {
		return kerr.UnknownTopicOrPartition
	}
	if t.Internal {
		return kerrWithMessage(kerr.InvalidRequest, "cannot add partitions to internal topic %s", rt.Topic)
	}
	if rt.Assignment != nil {
		if want := int(rt.Count) - len(t.Partitions()); len(rt.Assignment) != want {
			return kerrWithMessage(kerr.InvalidReplicaAssignment, "%d assignments given for %d new partitions", len(rt.Assignment), want)
		}
		for _, a := range rt.Assignment {
			if len(a.Replicas) != 1 || a.Replicas[0] != s.cfg.NodeID {
				return kerrWithMessage(kerr.InvalidReplicaAssignment, "replicas must be exactly [%d], the only broker", s.cfg.NodeID)
			}
		}
	}
	return s.cfg.Topics.AddPartitions(rt.Topic, rt.Count, validateOnly)
}
