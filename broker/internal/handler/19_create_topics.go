package handler

// CreateTopics (key 19), versions 2-7 (Kafka 4.0's floor is 2).
//
// Creates topics with a partition count (or num.partitions when -1) and
// config overrides, validated against Kafka's topic keys; ValidateOnly
// checks without creating. Replication factor must be -1 or 1 on this
// single node (INVALID_REPLICATION_FACTOR otherwise); manual replica
// assignments must name only this node. v5+ responses carry the topic's
// configs, partitions and replication factor.
// As KRaft does, one request may create at most 10,000 partitions in all;
// topics past that limit get POLICY_VIOLATION, so one small request cannot
// make the broker create millions of partition directories.
// Not implemented: CreateTopicPolicy.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.CreateTopics, 2, 7, (*Server).createTopics) }

func (s *Server) createTopics(ctx context.Context, _ *Conn, req *kmsg.CreateTopicsRequest) (*kmsg.CreateTopicsResponse, error) {
	if s.cfg.Cluster != nil {
		return s.clusterCreateTopics(ctx, req), nil
	}
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	budget := maxPartitionsPerRequest
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		fail := func(err error) {
			st.ErrorCode = errorCode(err)
			st.ErrorMessage = errorMessage(err)
			resp.Topics = append(resp.Topics, st)
		}
		if seen[rt.Topic] > 1 {
			fail(kerrWithMessage(kerr.InvalidRequest, "topic %s appears more than once in the request", rt.Topic))
			continue
		}
		partitions := rt.NumPartitions
		if len(rt.ReplicaAssignment) > 0 {
			if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
				fail(kerrWithMessage(kerr.InvalidRequest, "both replica assignment and partition count or replication factor were given"))
				continue
			}
			partitions = int32(len(rt.ReplicaAssignment))
			if err := s.checkAssignment(rt.ReplicaAssignment); err != nil {
				fail(err)
				continue
			}
		}
		if partitions == -1 {
			partitions = int32(s.cfg.Broker.Int64("num.partitions"))
		}
		if partitions > int32(budget) {
			fail(kerrWithMessage(kerr.PolicyViolation, "excessively large number of partitions per request (at most %d)", maxPartitionsPerRequest))
			continue
		}
		if partitions > 0 {
			budget -= int(partitions)
		}
		rf := rt.ReplicationFactor
		if rf == -1 {
			rf = int16(s.cfg.Broker.Int64("default.replication.factor"))
		}
		if len(rt.ReplicaAssignment) == 0 && rf != 1 {
			fail(kerrWithMessage(kerr.InvalidReplicationFactor, "replication factor %d is larger than the 1 available broker", rf))
			continue
		}
		configs := map[string]string{}
		for _, c := range rt.Configs {
			if c.Value != nil {
				configs[c.Name] = *c.Value
			}
		}
		t, err := s.cfg.Topics.Create(rt.Topic, partitions, configs, false, req.ValidateOnly)
		if err != nil {
			fail(err)
			continue
		}
		st.TopicID = t.ID
		st.NumPartitions, st.ReplicationFactor = partitions, 1
		st.Configs = s.createTopicsConfigs(t.Configs())
		resp.Topics = append(resp.Topics, st)
		if !req.ValidateOnly {
			s.log.Info("created topic", "topic", rt.Topic, "partitions", partitions)
		}
	}
	return resp, nil
}

// maxPartitionsPerRequest is KRaft's cap on partitions one CreateTopics or
// CreatePartitions request may create.
const maxPartitionsPerRequest = 10_000

func (s *Server) checkAssignment(assignment []kmsg.CreateTopicsRequestTopicReplicaAssignment) error {
	for i, a := range assignment {
		if a.Partition != int32(i) {
			return kerrWithMessage(kerr.InvalidReplicaAssignment, "partitions must be numbered 0..n-1 in order")
		}
		if len(a.Replicas) != 1 || a.Replicas[0] != s.cfg.NodeID {
			return kerrWithMessage(kerr.InvalidReplicaAssignment, "partition %d: replicas must be exactly [%d], the only broker", a.Partition, s.cfg.NodeID)
		}
	}
	return nil
}

func (s *Server) createTopicsConfigs(overrides map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	var out []kmsg.CreateTopicsResponseTopicConfig
	for _, e := range s.topicConfigEntries(overrides) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.Source = e.name, &e.value, e.source
		out = append(out, c)
	}
	return out
}

// kerrWithMessage is a Kafka error with a specific message for responses
// that carry one.
func kerrWithMessage(code *kerr.Error, format string, args ...any) error {
	return &codedError{code: code, msg: fmt.Sprintf(format, args...)}
}

type codedError struct {
	code *kerr.Error
	msg  string
}

func (e *codedError) Error() string { return e.msg }
func (e *codedError) Unwrap() error { return e.code }
