package handler

// Metadata (key 3), versions 0-13.
//
// This single node is every partition's leader and only replica, leader
// epoch 0, and the controller. Unknown topics named in the request are
// created when the request allows it (v4+ AllowAutoTopicCreation; always
// for v0-3) and auto.create.topics.enable is true, with num.partitions
// partitions — as Kafka does. v10+ lookups by topic id are answered.
// Not implemented: authorized operations (reported as "not requested").

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/topics"
)

func init() { register(kmsg.Metadata, 0, 13, (*Server).metadata) }

// authorizedOpsNotRequested is Kafka's INT32_MIN sentinel.
const authorizedOpsNotRequested = -2147483648

func (s *Server) metadata(_ context.Context, _ *Conn, req *kmsg.MetadataRequest) (*kmsg.MetadataResponse, error) {
	if s.cfg.Cluster != nil {
		return s.clusterMetadata(req), nil
	}
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = s.cfg.NodeID, s.cfg.AdvertisedHost, s.cfg.AdvertisedPort
	if s.cfg.Rack != "" {
		b.Rack = &s.cfg.Rack
	}
	resp.Brokers = []kmsg.MetadataResponseBroker{b}
	resp.ClusterID = &s.cfg.ClusterID
	resp.ControllerID = s.cfg.NodeID
	resp.AuthorizedOperations = authorizedOpsNotRequested

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range s.cfg.Topics.List() {
			resp.Topics = append(resp.Topics, s.metadataTopic(t))
		}
		return resp, nil
	}
	autoCreate := (req.Version < 4 || req.AllowAutoTopicCreation) && s.cfg.Broker.Bool("auto.create.topics.enable")
	for _, rt := range req.Topics {
		var t *topics.Topic
		var ok bool
		switch {
		case rt.Topic != nil:
			t, ok = s.cfg.Topics.Get(*rt.Topic)
			if !ok && autoCreate {
				var err error
				t, err = s.autoCreate(*rt.Topic)
				if err != nil {
					mt := kmsg.NewMetadataResponseTopic()
					mt.Topic = rt.Topic
					mt.ErrorCode = errorCode(err)
					mt.AuthorizedOperations = authorizedOpsNotRequested
					resp.Topics = append(resp.Topics, mt)
					continue
				}
				ok = true
			}
		default:
			t, ok = s.cfg.Topics.GetByID(rt.TopicID)
		}
		if !ok {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if rt.Topic == nil {
				mt.ErrorCode = kerr.UnknownTopicID.Code
			}
			mt.AuthorizedOperations = authorizedOpsNotRequested
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, s.metadataTopic(t))
	}
	return resp, nil
}

// autoCreate creates a topic a client named, with the broker's defaults.
// A concurrent creation by someone else is not an error.
func (s *Server) autoCreate(name string) (*topics.Topic, error) {
	t, err := s.cfg.Topics.Create(name, int32(s.cfg.Broker.Int64("num.partitions")), nil, false, false)
	if errors.Is(err, topics.ErrTopicExists) {
		if t, ok := s.cfg.Topics.Get(name); ok {
			return t, nil
		}
	}
	if err == nil {
		s.log.Info("auto-created topic", "topic", name, "partitions", len(t.Partitions()))
	}
	return t, err
}

func (s *Server) metadataTopic(t *topics.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = t.Internal
	mt.AuthorizedOperations = authorizedOpsNotRequested
	for _, p := range t.Partitions() {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Index
		mp.Leader = s.cfg.NodeID
		mp.LeaderEpoch = 0
		mp.Replicas = []int32{s.cfg.NodeID}
		mp.ISR = []int32{s.cfg.NodeID}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
