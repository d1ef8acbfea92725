package handler

// ElectLeaders (key 43), versions 0-2 (KIP-183, KIP-460).
//
// ElectionType 0 (v0 always) elects each partition's preferred replica
// (the first of its assignment) if it is an active ISR member:
// ELECTION_NOT_NEEDED when it already leads, PREFERRED_LEADER_NOT_AVAILABLE
// when it cannot. ElectionType 1 (unclean) elects a leader for a
// leaderless partition, from the ISR if possible, else any active replica
// (ELIGIBLE_LEADERS_NOT_AVAILABLE when none; ELECTION_NOT_NEEDED when it
// has a leader). Topics null means every partition, and then only the
// partitions where an election was needed are listed, as Kafka does. In
// cluster mode the active controller decides (forwarded when this node is
// not it); a single node leads all its partitions already, so every known
// partition is ELECTION_NOT_NEEDED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/controller"
)

func init() { register(kmsg.ElectLeaders, 0, 2, (*Server).electLeaders) }

func (s *Server) electLeaders(ctx context.Context, _ *Conn, req *kmsg.ElectLeadersRequest) (*kmsg.ElectLeadersResponse, error) {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	typ := controller.ElectionType(req.ElectionType)
	if req.Version == 0 {
		typ = controller.ElectPreferred
	}
	if typ != controller.ElectPreferred && typ != controller.ElectUnclean {
		return s.electLeadersFailed(req, kerrWithMessage(kerr.InvalidRequest, "unknown election type %d", req.ElectionType)), nil
	}
	var tps []controller.TopicPartition
	if req.Topics != nil {
		tps = []controller.TopicPartition{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, controller.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
	var results []controller.ElectionResult
	if s.cfg.Cluster == nil {
		results = s.singleNodeElections(tps)
	} else {
		cctx, cancel := adminContext(ctx, req.TimeoutMillis)
		defer cancel()
		var err error
		if results, err = s.cfg.Cluster.Controller().ElectLeaders(cctx, typ, tps); err != nil {
			return s.electLeadersFailed(req, clusterErr(err)), nil
		}
	}
	at := map[string]int{}
	for _, r := range results {
		i, ok := at[r.Topic]
		if !ok {
			i = len(resp.Topics)
			at[r.Topic] = i
			t := kmsg.NewElectLeadersResponseTopic()
			t.Topic = r.Topic
			resp.Topics = append(resp.Topics, t)
		}
		p := kmsg.NewElectLeadersResponseTopicPartition()
		p.Partition = r.Partition
		if e := clusterErr(r.Err); e != nil {
			p.ErrorCode, p.ErrorMessage = errorCode(e), errorMessage(e)
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, p)
	}
	return resp, nil
}

// singleNodeElections: the only replica leads every partition already.
func (s *Server) singleNodeElections(tps []controller.TopicPartition) []controller.ElectionResult {
	var out []controller.ElectionResult
	for _, tp := range tps {
		err := controller.ErrElectionNotNeeded
		if t, ok := s.cfg.Topics.Get(tp.Topic); !ok || t.Partition(tp.Partition) == nil {
			err = controller.ErrUnknownTopicOrPartition
		}
		out = append(out, controller.ElectionResult{TopicPartition: tp, Err: err})
	}
	return out
}

// electLeadersFailed answers a request that failed as a whole: the
// top-level code from v1, and every requested partition carries it too (v0
// has only those).
func (s *Server) electLeadersFailed(req *kmsg.ElectLeadersRequest, err error) *kmsg.ElectLeadersResponse {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	if req.Version >= 1 {
		resp.ErrorCode = errorCode(err)
	}
	for _, rt := range req.Topics {
		t := kmsg.NewElectLeadersResponseTopic()
		t.Topic = rt.Topic
		for _, p := range rt.Partitions {
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.ErrorMessage = p, errorCode(err), errorMessage(err)
			t.Partitions = append(t.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}
