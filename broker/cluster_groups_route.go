package broker

// Routing of the group APIs to the Service of the group's partition
// (route, split: cluster_internal_topic_route.go); groups not coordinated
// here answer NOT_COORDINATOR, or COORDINATOR_LOAD_IN_PROGRESS while their
// partition loads here (Kafka's coordinator runtime: a LOADING partition),
// except Heartbeat, answered without error while loading as Kafka's
// GroupCoordinatorService does.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/group"
	"github.com/highwater-io/highwater/broker/internal/handler"
)

// JoinGroup implements handler.Groups.
func (g *clusterGroups) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	return route(g.internalTopic, ctx, req.Group, req, (*group.Service).JoinGroup,
		func(_ *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse, code int16) {
			resp.ErrorCode, resp.Generation = code, -1
		})
}

// SyncGroup implements handler.Groups.
func (g *clusterGroups) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	return route(g.internalTopic, ctx, req.Group, req, (*group.Service).SyncGroup,
		func(_ *kmsg.SyncGroupRequest, resp *kmsg.SyncGroupResponse, code int16) { resp.ErrorCode = code })
}

// Heartbeat implements handler.Groups. While the group's partition loads
// the heartbeat succeeds blindly (Kafka: the member is not expired then,
// and the next heartbeat after the load sees the group's real state).
func (g *clusterGroups) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	return route(g.internalTopic, ctx, req.Group, req, (*group.Service).Heartbeat,
		func(_ *kmsg.HeartbeatRequest, resp *kmsg.HeartbeatResponse, code int16) {
			if code != loadInProgress {
				resp.ErrorCode = code
			}
		})
}

// LeaveGroup implements handler.Groups.
func (g *clusterGroups) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	return route(g.internalTopic, ctx, req.Group, req, (*group.Service).LeaveGroup,
		func(_ *kmsg.LeaveGroupRequest, resp *kmsg.LeaveGroupResponse, code int16) { resp.ErrorCode = code })
}

// OffsetDelete implements handler.Groups.
func (g *clusterGroups) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	return route(g.internalTopic, ctx, req.Group, req, (*group.Service).OffsetDelete,
		func(_ *kmsg.OffsetDeleteRequest, resp *kmsg.OffsetDeleteResponse, code int16) { resp.ErrorCode = code })
}

// OffsetCommit implements handler.Groups; refused, every partition
// carries the refusal's code.
func (g *clusterGroups) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	return route(g.internalTopic, ctx, req.Group, req, (*group.Service).OffsetCommit, refuseOffsetCommit)
}

func refuseOffsetCommit(req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, code int16) {
	for _, rt := range req.Topics {
		t := kmsg.NewOffsetCommitResponseTopic()
		t.Topic, t.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			p := kmsg.NewOffsetCommitResponseTopicPartition()
			p.Partition, p.ErrorCode = rp.Partition, code
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
}

// OffsetFetch implements handler.Groups. v8+ batches groups: each is
// answered by its own Service.
func (g *clusterGroups) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	if req.Version < 8 {
		return route(g.internalTopic, ctx, req.Group, req, (*group.Service).OffsetFetch, refuseOffsetFetch)
	}
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	var ok bool
	resp.Groups, ok = split(g.internalTopic, req.Groups, func(rg kmsg.OffsetFetchRequestGroup) string { return rg.Group },
		func(svc *group.Service, rg kmsg.OffsetFetchRequestGroup) ([]kmsg.OffsetFetchResponseGroup, bool) {
			one := *req
			one.Groups = []kmsg.OffsetFetchRequestGroup{rg}
			r := svc.OffsetFetch(ctx, &one)
			if r == nil {
				return nil, false
			}
			return r.Groups, true
		},
		func(rg kmsg.OffsetFetchRequestGroup, code int16) kmsg.OffsetFetchResponseGroup {
			og := kmsg.NewOffsetFetchResponseGroup()
			og.Group, og.ErrorCode = rg.Group, code
			return og
		})
	if !ok {
		return nil
	}
	return resp
}

// refuseOffsetFetch answers v0-7: code at the top and on every partition
// asked for.
func refuseOffsetFetch(req *kmsg.OffsetFetchRequest, resp *kmsg.OffsetFetchResponse, code int16) {
	resp.ErrorCode = code
	for _, rt := range req.Topics {
		t := kmsg.NewOffsetFetchResponseTopic()
		t.Topic = rt.Topic
		for _, p := range rt.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, code
			t.Partitions = append(t.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, t)
	}
}

// ListGroups implements handler.Groups: the groups of every partition led
// here; while one of them loads, COORDINATOR_LOAD_IN_PROGRESS and no
// groups (Kafka fails the whole listing then).
func (g *clusterGroups) ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if g.loading() {
		resp.ErrorCode = loadInProgress
		return resp
	}
	for _, svc := range g.services() {
		r := svc.ListGroups(ctx, req)
		if r == nil {
			return nil
		}
		if r.ErrorCode != 0 && resp.ErrorCode == 0 {
			resp.ErrorCode = r.ErrorCode
		}
		resp.Groups = append(resp.Groups, r.Groups...)
	}
	return resp
}

// DescribeGroups implements handler.Groups, each group by its own Service.
func (g *clusterGroups) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	var ok bool
	resp.Groups, ok = split(g.internalTopic, req.Groups, itself,
		func(svc *group.Service, id string) ([]kmsg.DescribeGroupsResponseGroup, bool) {
			one := *req
			one.Groups = []string{id}
			r := svc.DescribeGroups(ctx, &one)
			if r == nil {
				return nil, false
			}
			return r.Groups, true
		},
		func(id string, code int16) kmsg.DescribeGroupsResponseGroup {
			og := kmsg.NewDescribeGroupsResponseGroup()
			og.Group, og.ErrorCode = id, code
			return og
		})
	if !ok {
		return nil
	}
	return resp
}

// DeleteGroups implements handler.Groups, each group by its own Service.
func (g *clusterGroups) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	var ok bool
	resp.Groups, ok = split(g.internalTopic, req.Groups, itself,
		func(svc *group.Service, id string) ([]kmsg.DeleteGroupsResponseGroup, bool) {
			one := *req
			one.Groups = []string{id}
			r := svc.DeleteGroups(ctx, &one)
			if r == nil {
				return nil, false
			}
			return r.Groups, true
		},
		func(id string, code int16) kmsg.DeleteGroupsResponseGroup {
			og := kmsg.NewDeleteGroupsResponseGroup()
			og.Group, og.ErrorCode = id, code
			return og
		})
	if !ok {
		return nil
	}
	return resp
}

// TxnOffsetCommit implements handler.TxnOffsetCommitter for the cluster's
// group router; refused, every partition carries the refusal's code.
func (g *clusterGroups) TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	return route(g.internalTopic, ctx, req.Group, req, (*group.Service).TxnOffsetCommit,
		func(req *kmsg.TxnOffsetCommitRequest, resp *kmsg.TxnOffsetCommitResponse, code int16) {
			for _, rt := range req.Topics {
				t := kmsg.NewTxnOffsetCommitResponseTopic()
				t.Topic = rt.Topic
				for _, p := range rt.Partitions {
					t.Partitions = append(t.Partitions, kmsg.TxnOffsetCommitResponseTopicPartition{Partition: p.Partition, ErrorCode: code})
				}
				resp.Topics = append(resp.Topics, t)
			}
		})
}

var _ handler.TxnOffsetCommitter = (*clusterGroups)(nil)
