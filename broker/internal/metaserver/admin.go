package metaserver

// The topic admin APIs on the controller listener, so a node that is not
// the active controller can forward a client's request to the one that is
// (KIP-590's forwarding; Kafka wraps the request in an Envelope, here the
// broker re-issues it through Client, already decoded): CreateTopics,
// DeleteTopics, CreatePartitions, IncrementalAlterConfigs (which also
// carries AlterConfigs, as set/delete operations) and ElectLeaders. The
// server side decodes into the controller's Go types and calls the Server;
// the Client side encodes them back, so in-process and forwarded calls
// return the same values and errors.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/metadata"
)

// adminTimeoutMs is the timeout a forwarded request carries; the caller's
// context bounds the call itself.
const adminTimeoutMs = 30_000

func (k *kafkaServer) dispatchAdmin(ctx context.Context, req kmsg.Request) (kmsg.Response, bool) {
	switch r := req.(type) {
	case *kmsg.CreateTopicsRequest:
		return k.createTopics(ctx, r), true
	case *kmsg.DeleteTopicsRequest:
		return k.deleteTopics(ctx, r), true
	case *kmsg.CreatePartitionsRequest:
		return k.createPartitions(ctx, r), true
	case *kmsg.IncrementalAlterConfigsRequest:
		return k.alterConfigs(ctx, r), true
	case *kmsg.ElectLeadersRequest:
		return k.electLeaders(ctx, r), true
	}
	return nil, false
}

func (k *kafkaServer) createTopics(ctx context.Context, r *kmsg.CreateTopicsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
	reqs := make([]controller.CreateTopic, 0, len(r.Topics))
	for _, t := range r.Topics {
		ct := controller.CreateTopic{Name: t.Topic, NumPartitions: t.NumPartitions, ReplicationFactor: t.ReplicationFactor,
			Configs: map[string]string{}, ValidateOnly: r.ValidateOnly}
		for _, a := range t.ReplicaAssignment {
			ct.Assignments = append(ct.Assignments, a.Replicas)
		}
		for _, c := range t.Configs {
			if c.Value != nil {
				ct.Configs[c.Name] = *c.Value
			}
		}
		reqs = append(reqs, ct)
	}
	results, err := k.s.CreateTopics(ctx, reqs)
	for i, t := range r.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic, st.NumPartitions, st.ReplicationFactor = t.Topic, -1, -1
		switch {
		case err != nil:
			st.ErrorCode = errorCode(err)
		case i < len(results) && results[i].Err != nil:
			st.ErrorCode = errorCode(results[i].Err)
			st.ErrorMessage = kmsg.StringPtr(results[i].Err.Error())
		case i < len(results):
			st.TopicID = [16]byte(results[i].TopicID)
			st.NumPartitions, st.ReplicationFactor = results[i].NumPartitions, results[i].ReplicationFactor
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (k *kafkaServer) deleteTopics(ctx context.Context, r *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
	var names []string
	var ids []metadata.UUID
	for _, t := range r.Topics {
		n := ""
		if t.Topic != nil {
			n = *t.Topic
		}
		names, ids = append(names, n), append(ids, metadata.UUID(t.TopicID))
	}
	errs, err := k.s.DeleteTopics(ctx, names, ids)
	for i := range names {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = r.Topics[i].Topic, r.Topics[i].TopicID
		e := err
		if err == nil && i < len(errs) {
			e = errs[i]
		}
		st.ErrorCode = errorCode(e)
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (k *kafkaServer) createPartitions(ctx context.Context, r *kmsg.CreatePartitionsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.CreatePartitionsResponse)
	reqs := make([]controller.CreatePartitions, 0, len(r.Topics))
	for _, t := range r.Topics {
		cp := controller.CreatePartitions{Topic: t.Topic, Count: t.Count, ValidateOnly: r.ValidateOnly}
		for _, a := range t.Assignment {
			cp.Assignments = append(cp.Assignments, a.Replicas)
		}
		reqs = append(reqs, cp)
	}
	errs, err := k.s.CreatePartitions(ctx, reqs)
	for i, t := range r.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = t.Topic
		e := err
		if err == nil && i < len(errs) {
			e = errs[i]
		}
		st.ErrorCode = errorCode(e)
		if e != nil && err == nil {
			st.ErrorMessage = kmsg.StringPtr(e.Error())
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (k *kafkaServer) alterConfigs(ctx context.Context, r *kmsg.IncrementalAlterConfigsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	reqs := make([]controller.AlterConfig, 0, len(r.Resources))
	for _, res := range r.Resources {
		ac := controller.AlterConfig{Resource: metadata.ConfigResource{Type: metadata.ConfigResourceType(res.ResourceType),
			Name: res.ResourceName}, ValidateOnly: r.ValidateOnly}
		for _, c := range res.Configs {
			op := controller.ConfigOp{Key: c.Name, Delete: c.Op == kmsg.IncrementalAlterConfigOpDelete}
			if c.Value != nil {
				op.Value = *c.Value
			}
			ac.Ops = append(ac.Ops, op)
		}
		reqs = append(reqs, ac)
	}
	errs, err := k.s.AlterConfigs(ctx, reqs)
	for i, res := range r.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = res.ResourceType, res.ResourceName
		e := err
		if err == nil && i < len(errs) {
			e = errs[i]
		}
		sr.ErrorCode = errorCode(e)
		if e != nil && err == nil {
			sr.ErrorMessage = kmsg.StringPtr(e.Error())
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

func (k *kafkaServer) electLeaders(ctx context.Context, r *kmsg.ElectLeadersRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
	var tps []controller.TopicPartition
	if r.Topics != nil {
		tps = []controller.TopicPartition{}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, controller.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
	results, err := k.s.ElectLeaders(ctx, controller.ElectionType(r.ElectionType), tps)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	resp.Topics = electionResponseTopics(results)
	return resp
}

// electionResponseTopics groups election results by topic, in order.
func electionResponseTopics(results []controller.ElectionResult) []kmsg.ElectLeadersResponseTopic {
	var out []kmsg.ElectLeadersResponseTopic
	at := map[string]int{}
	for _, res := range results {
		i, ok := at[res.Topic]
		if !ok {
			i = len(out)
			at[res.Topic] = i
			t := kmsg.NewElectLeadersResponseTopic()
			t.Topic = res.Topic
			out = append(out, t)
		}
		p := kmsg.NewElectLeadersResponseTopicPartition()
		p.Partition, p.ErrorCode = res.Partition, errorCode(res.Err)
		if res.Err != nil {
			p.ErrorMessage = kmsg.StringPtr(res.Err.Error())
		}
		out[i].Partitions = append(out[i].Partitions, p)
	}
	return out
}

// anyNotController is the "top-level" code of a response whose errors are
// per item: NOT_CONTROLLER when any item has it (the whole request goes
// to another voter), else 0.
func anyNotController(codes ...int16) int16 {
	for _, c := range codes {
		if c == kerr.NotController.Code {
			return c
		}
	}
	return 0
}

// CreateTopics forwards CreateTopics to the active controller.
func (c *Client) CreateTopics(ctx context.Context, reqs []controller.CreateTopic) ([]controller.CreateTopicResult, error) {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = adminTimeoutMs
	for _, ct := range reqs {
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic, t.NumPartitions, t.ReplicationFactor = ct.Name, ct.NumPartitions, ct.ReplicationFactor
		for i, a := range ct.Assignments {
			ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			ra.Partition, ra.Replicas = int32(i), a
			t.ReplicaAssignment = append(t.ReplicaAssignment, ra)
		}
		for k, v := range ct.Configs {
			cfg := kmsg.NewCreateTopicsRequestTopicConfig()
			cfg.Name, cfg.Value = k, kmsg.StringPtr(v)
			t.Configs = append(t.Configs, cfg)
		}
		req.ValidateOnly = req.ValidateOnly || ct.ValidateOnly
		req.Topics = append(req.Topics, t)
	}
	resp, err := c.do(ctx, req, func(r kmsg.Response) int16 {
		var codes []int16
		for _, t := range r.(*kmsg.CreateTopicsResponse).Topics {
			codes = append(codes, t.ErrorCode)
		}
		return anyNotController(codes...)
	})
	if err != nil {
		return nil, err
	}
	out := make([]controller.CreateTopicResult, len(reqs))
	for i, t := range resp.(*kmsg.CreateTopicsResponse).Topics {
		if i >= len(out) {
			break
		}
		out[i] = controller.CreateTopicResult{Name: t.Topic, TopicID: metadata.UUID(t.TopicID), NumPartitions: t.NumPartitions,
			ReplicationFactor: t.ReplicationFactor, Err: codeError(t.ErrorCode)}
	}
	return out, nil
}

// DeleteTopics forwards DeleteTopics (by name, or by id where the name is
// empty) to the active controller.
func (c *Client) DeleteTopics(ctx context.Context, names []string, ids []metadata.UUID) ([]error, error) {
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = adminTimeoutMs
	for i, n := range names {
		t := kmsg.NewDeleteTopicsRequestTopic()
		if n != "" {
			t.Topic = kmsg.StringPtr(n)
		}
		if i < len(ids) {
			t.TopicID = [16]byte(ids[i])
		}
		req.Topics = append(req.Topics, t)
	}
	resp, err := c.do(ctx, req, func(r kmsg.Response) int16 {
		var codes []int16
		for _, t := range r.(*kmsg.DeleteTopicsResponse).Topics {
			codes = append(codes, t.ErrorCode)
		}
		return anyNotController(codes...)
	})
	if err != nil {
		return nil, err
	}
	out := make([]error, len(names))
	for i, t := range resp.(*kmsg.DeleteTopicsResponse).Topics {
		if i < len(out) {
			out[i] = codeError(t.ErrorCode)
		}
	}
	return out, nil
}

// CreatePartitions forwards CreatePartitions to the active controller.
func (c *Client) CreatePartitions(ctx context.Context, reqs []controller.CreatePartitions) ([]error, error) {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = adminTimeoutMs
	for _, cp := range reqs {
		t := kmsg.NewCreatePartitionsRequestTopic()
		t.Topic, t.Count = cp.Topic, cp.Count
		for _, a := range cp.Assignments {
			ra := kmsg.NewCreatePartitionsRequestTopicAssignment()
			ra.Replicas = a
			t.Assignment = append(t.Assignment, ra)
		}
		req.ValidateOnly = req.ValidateOnly || cp.ValidateOnly
		req.Topics = append(req.Topics, t)
	}
	resp, err := c.do(ctx, req, func(r kmsg.Response) int16 {
		var codes []int16
		for _, t := range r.(*kmsg.CreatePartitionsResponse).Topics {
			codes = append(codes, t.ErrorCode)
		}
		return anyNotController(codes...)
	})
	if err != nil {
		return nil, err
	}
	out := make([]error, len(reqs))
	for i, t := range resp.(*kmsg.CreatePartitionsResponse).Topics {
		if i < len(out) {
			out[i] = codeError(t.ErrorCode)
		}
	}
	return out, nil
}

// AlterConfigs forwards config changes to the active controller as
// IncrementalAlterConfigs (one request per ValidateOnly value).
func (c *Client) AlterConfigs(ctx context.Context, reqs []controller.AlterConfig) ([]error, error) {
	out := make([]error, len(reqs))
	for _, validate := range []bool{false, true} {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		req.ValidateOnly = validate
		var at []int
		for i, ac := range reqs {
			if ac.ValidateOnly != validate {
				continue
			}
			r := kmsg.NewIncrementalAlterConfigsRequestResource()
			r.ResourceType, r.ResourceName = kmsg.ConfigResourceType(ac.Resource.Type), ac.Resource.Name
			for _, op := range ac.Ops {
				cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
				cfg.Name, cfg.Op = op.Key, kmsg.IncrementalAlterConfigOpSet
				if op.Delete {
					cfg.Op = kmsg.IncrementalAlterConfigOpDelete
				} else {
					cfg.Value = kmsg.StringPtr(op.Value)
				}
				r.Configs = append(r.Configs, cfg)
			}
			req.Resources = append(req.Resources, r)
			at = append(at, i)
		}
		if len(at) == 0 {
			continue
		}
		resp, err := c.do(ctx, req, func(r kmsg.Response) int16 {
			var codes []int16
			for _, res := range r.(*kmsg.IncrementalAlterConfigsResponse).Resources {
				codes = append(codes, res.ErrorCode)
			}
			return anyNotController(codes...)
		})
		if err != nil {
			return nil, err
		}
		for j, res := range resp.(*kmsg.IncrementalAlterConfigsResponse).Resources {
			if j < len(at) {
				out[at[j]] = codeError(res.ErrorCode)
			}
		}
	}
	return out, nil
}

// ElectLeaders forwards ElectLeaders to the active controller (partitions
// nil: every partition).
func (c *Client) ElectLeaders(ctx context.Context, typ controller.ElectionType, partitions []controller.TopicPartition) ([]controller.ElectionResult, error) {
	req := kmsg.NewPtrElectLeadersRequest()
	req.ElectionType, req.TimeoutMillis = int8(typ), adminTimeoutMs
	if partitions != nil {
		req.Topics = []kmsg.ElectLeadersRequestTopic{}
		at := map[string]int{}
		for _, tp := range partitions {
			i, ok := at[tp.Topic]
			if !ok {
				i = len(req.Topics)
				at[tp.Topic] = i
				t := kmsg.NewElectLeadersRequestTopic()
				t.Topic = tp.Topic
				req.Topics = append(req.Topics, t)
			}
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, tp.Partition)
		}
	}
	resp, err := c.do(ctx, req, func(r kmsg.Response) int16 { return r.(*kmsg.ElectLeadersResponse).ErrorCode })
	if err != nil {
		return nil, err
	}
	var out []controller.ElectionResult
	for _, t := range resp.(*kmsg.ElectLeadersResponse).Topics {
		for _, p := range t.Partitions {
			out = append(out, controller.ElectionResult{TopicPartition: controller.TopicPartition{Topic: t.Topic, Partition: p.Partition},
				Err: codeError(p.ErrorCode)})
		}
	}
	return out, nil
}

// IsNotController reports whether err means "not the active controller"
// (in-process or from the wire), the cue to forward.
func IsNotController(err error) bool {
	return errors.Is(err, ErrNotController) || errors.Is(err, ErrStopped)
}
