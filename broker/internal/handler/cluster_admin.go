package handler

// Cluster-mode answers of Metadata and the topic admin APIs (see
// cluster.go for the contract).

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/metadata"
)

// internalTopic reports Kafka's internal topics.
func internalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}

// clusterMetadata answers Metadata from the image. Unknown topics are not
// auto-created in cluster mode yet (UNKNOWN_TOPIC_OR_PARTITION). Until the
// image has caught up with the quorum (Cluster.CaughtUp) its leaders may
// be stale, so every partition answers LEADER_NOT_AVAILABLE and clients
// ask again (elsewhere); Kafka does not serve clients at all before
// catching up.
func (s *Server) clusterMetadata(req *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	img := s.cfg.Cluster.Image()
	live := map[int32]bool{}
	for _, b := range img.Brokers() {
		if b.Fenced {
			continue
		}
		for _, e := range b.Endpoints {
			if e.Name != "PLAINTEXT" {
				continue
			}
			mb := kmsg.NewMetadataResponseBroker()
			mb.NodeID, mb.Host, mb.Port = b.ID, e.Host, e.Port
			if b.Rack != "" {
				rack := b.Rack
				mb.Rack = &rack
			}
			resp.Brokers = append(resp.Brokers, mb)
			live[b.ID] = true
		}
	}
	resp.ClusterID = &s.cfg.ClusterID
	resp.ControllerID = s.cfg.Cluster.ControllerID()
	resp.AuthorizedOperations = authorizedOpsNotRequested
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	caughtUp := s.cfg.Cluster.CaughtUp()
	if all {
		for _, t := range img.Topics() {
			resp.Topics = append(resp.Topics, imageTopic(t, live, caughtUp))
		}
		return resp
	}
	for _, rt := range req.Topics {
		var t metadata.Topic
		var ok bool
		if rt.Topic != nil {
			t, ok = img.TopicByName(*rt.Topic)
		} else {
			t, ok = img.TopicByID(metadata.UUID(rt.TopicID))
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
		resp.Topics = append(resp.Topics, imageTopic(t, live, caughtUp))
	}
	return resp
}

func imageTopic(t metadata.Topic, live map[int32]bool, caughtUp bool) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic, mt.TopicID, mt.IsInternal = &name, [16]byte(t.ID), internalTopic(t.Name)
	mt.AuthorizedOperations = authorizedOpsNotRequested
	for i, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader, mp.LeaderEpoch = p.Leader, p.LeaderEpoch
		mp.Replicas = append([]int32{}, p.Replicas...)
		mp.ISR = append([]int32{}, p.ISR...)
		mp.OfflineReplicas = []int32{}
		for _, r := range p.Replicas {
			if !live[r] {
				mp.OfflineReplicas = append(mp.OfflineReplicas, r)
			}
		}
		if !caughtUp {
			mp.Leader = -1
		}
		if mp.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// adminContext bounds a controller call by the request's timeout.
func adminContext(ctx context.Context, timeoutMs int32) (context.Context, context.CancelFunc) {
	if timeoutMs <= 0 {
		timeoutMs = 30_000
	}
	return context.WithTimeout(ctx, time.Duration(timeoutMs)*time.Millisecond)
}

func (s *Server) clusterCreateTopics(ctx context.Context, req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	reqs := make([]controller.CreateTopic, 0, len(req.Topics))
	for _, rt := range req.Topics {
		ct := controller.CreateTopic{Name: rt.Topic, NumPartitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor,
			Configs: map[string]string{}, ValidateOnly: req.ValidateOnly}
		for _, a := range rt.ReplicaAssignment {
			ct.Assignments = append(ct.Assignments, a.Replicas)
		}
		for _, c := range rt.Configs {
			if c.Value != nil {
				ct.Configs[c.Name] = *c.Value
			}
		}
		reqs = append(reqs, ct)
	}
	cctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	results, err := s.cfg.Cluster.Controller().CreateTopics(cctx, reqs)
	for i, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		e := clusterErr(err)
		if err == nil && i < len(results) {
			e = clusterErr(results[i].Err)
		}
		if e != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(e), errorMessage(e)
		} else {
			r := results[i]
			st.TopicID = [16]byte(r.TopicID)
			st.NumPartitions, st.ReplicationFactor = r.NumPartitions, r.ReplicationFactor
			st.Configs = s.createTopicsConfigs(reqs[i].Configs)
			if !req.ValidateOnly {
				s.log.Info("created topic", "topic", rt.Topic, "partitions", r.NumPartitions, "replication.factor", r.ReplicationFactor)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (s *Server) clusterDeleteTopics(ctx context.Context, req *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	var names []string
	var ids []metadata.UUID
	if req.Version >= 6 {
		for _, t := range req.Topics {
			n := ""
			if t.Topic != nil {
				n = *t.Topic
			}
			names, ids = append(names, n), append(ids, metadata.UUID(t.TopicID))
		}
	} else {
		names = req.TopicNames
		ids = make([]metadata.UUID, len(names))
	}
	img := s.cfg.Cluster.Image()
	var errs []error
	var err error
	if s.cfg.Broker.Bool("delete.topic.enable") {
		cctx, cancel := adminContext(ctx, req.TimeoutMillis)
		errs, err = s.cfg.Cluster.Controller().DeleteTopics(cctx, names, ids)
		cancel()
	} else {
		err = kerr.TopicDeletionDisabled
	}
	for i := range names {
		st := kmsg.NewDeleteTopicsResponseTopic()
		if names[i] != "" {
			st.Topic = &names[i]
		}
		st.TopicID = [16]byte(ids[i])
		if t, ok := img.TopicByName(names[i]); ok && names[i] != "" {
			st.TopicID = [16]byte(t.ID)
		} else if t, ok := img.TopicByID(ids[i]); ok {
			name := t.Name
			st.Topic = &name
		}
		e := clusterErr(err)
		if err == nil && i < len(errs) {
			e = clusterErr(errs[i])
		}
		st.ErrorCode, st.ErrorMessage = errorCode(e), errorMessage(e)
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (s *Server) clusterCreatePartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	reqs := make([]controller.CreatePartitions, 0, len(req.Topics))
	for _, rt := range req.Topics {
		cp := controller.CreatePartitions{Topic: rt.Topic, Count: rt.Count, ValidateOnly: req.ValidateOnly}
		for _, a := range rt.Assignment {
			cp.Assignments = append(cp.Assignments, a.Replicas)
		}
		reqs = append(reqs, cp)
	}
	cctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	errs, err := s.cfg.Cluster.Controller().CreatePartitions(cctx, reqs)
	for i, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		e := clusterErr(err)
		if err == nil && i < len(errs) {
			e = clusterErr(errs[i])
		}
		st.ErrorCode, st.ErrorMessage = errorCode(e), errorMessage(e)
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// clusterAlterTopicConfigs runs topic config changes through the
// controller: one AlterConfig per resource; it returns one error per item
// (nil: done).
func (s *Server) clusterAlterTopicConfigs(ctx context.Context, reqs []controller.AlterConfig) []error {
	cctx, cancel := adminContext(ctx, 30_000)
	defer cancel()
	errs, err := s.cfg.Cluster.Controller().AlterConfigs(cctx, reqs)
	out := make([]error, len(reqs))
	for i := range reqs {
		out[i] = clusterErr(err)
		if err == nil && i < len(errs) {
			out[i] = clusterErr(errs[i])
		}
	}
	return out
}

// setTopicConfigs replaces a topic's overrides: in the catalogue on a
// single node, through the controller (as set/delete operations against the
// image's overrides) in cluster mode.
func (s *Server) setTopicConfigs(ctx context.Context, name string, configs map[string]string, validateOnly bool) error {
	if s.cfg.Cluster == nil {
		return s.cfg.Topics.SetConfigs(name, configs, validateOnly)
	}
	res := metadata.ConfigResource{Type: metadata.ResourceTopic, Name: name}
	current := s.cfg.Cluster.Image().Config(res)
	ac := controller.AlterConfig{Resource: res, ValidateOnly: validateOnly}
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		if v, ok := current[k]; !ok || v != configs[k] {
			ac.Ops = append(ac.Ops, controller.ConfigOp{Key: k, Value: configs[k]})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(current)) {
		if _, ok := configs[k]; !ok {
			ac.Ops = append(ac.Ops, controller.ConfigOp{Key: k, Delete: true})
		}
	}
	return s.clusterAlterTopicConfigs(ctx, []controller.AlterConfig{ac})[0]
}
