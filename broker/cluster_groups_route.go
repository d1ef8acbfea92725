package broker

// Routing of the group APIs to the Service of the group's partition;
// groups not coordinated here answer NOT_COORDINATOR.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var notCoordinator = kerr.NotCoordinator.Code

// JoinGroup implements handler.Groups.
func (g *clusterGroups) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	if svc, ok := g.serviceFor(req.Group); ok {
		return svc.JoinGroup(ctx, req)
	}
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode, resp.Generation = notCoordinator, -1
	return resp
}

// SyncGroup implements handler.Groups.
func (g *clusterGroups) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	if svc, ok := g.serviceFor(req.Group); ok {
		return svc.SyncGroup(ctx, req)
	}
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ErrorCode = notCoordinator
	return resp
}

// Heartbeat implements handler.Groups.
func (g *clusterGroups) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	if svc, ok := g.serviceFor(req.Group); ok {
		return svc.Heartbeat(ctx, req)
	}
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = notCoordinator
	return resp
}

// LeaveGroup implements handler.Groups.
func (g *clusterGroups) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	if svc, ok := g.serviceFor(req.Group); ok {
		return svc.LeaveGroup(ctx, req)
	}
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	resp.ErrorCode = notCoordinator
	return resp
}

// OffsetCommit implements handler.Groups.
func (g *clusterGroups) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	if svc, ok := g.serviceFor(req.Group); ok {
		return svc.OffsetCommit(ctx, req)
	}
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewOffsetCommitResponseTopic()
		t.Topic, t.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			p := kmsg.NewOffsetCommitResponseTopicPartition()
			p.Partition, p.ErrorCode = rp.Partition, notCoordinator
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// OffsetFetch implements handler.Groups. v8+ batches groups: each is
// answered by its own Service.
func (g *clusterGroups) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	if req.Version < 8 {
		if svc, ok := g.serviceFor(req.Group); ok {
			return svc.OffsetFetch(ctx, req)
		}
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.ErrorCode = notCoordinator
		for _, rt := range req.Topics {
			t := kmsg.NewOffsetFetchResponseTopic()
			t.Topic = rt.Topic
			for _, p := range rt.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, notCoordinator
				t.Partitions = append(t.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp
	}
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	for _, rg := range req.Groups {
		svc, ok := g.serviceFor(rg.Group)
		if !ok {
			og := kmsg.NewOffsetFetchResponseGroup()
			og.Group, og.ErrorCode = rg.Group, notCoordinator
			resp.Groups = append(resp.Groups, og)
			continue
		}
		one := *req
		one.Groups = []kmsg.OffsetFetchRequestGroup{rg}
		r := svc.OffsetFetch(ctx, &one)
		if r == nil {
			return nil
		}
		resp.Groups = append(resp.Groups, r.Groups...)
	}
	return resp
}

// ListGroups implements handler.Groups: the groups of every partition led
// here.
func (g *clusterGroups) ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
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

// DescribeGroups implements handler.Groups.
func (g *clusterGroups) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		svc, ok := g.serviceFor(id)
		if !ok {
			og := kmsg.NewDescribeGroupsResponseGroup()
			og.Group, og.ErrorCode = id, notCoordinator
			resp.Groups = append(resp.Groups, og)
			continue
		}
		one := *req
		one.Groups = []string{id}
		r := svc.DescribeGroups(ctx, &one)
		if r == nil {
			return nil
		}
		resp.Groups = append(resp.Groups, r.Groups...)
	}
	return resp
}

// DeleteGroups implements handler.Groups.
func (g *clusterGroups) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		svc, ok := g.serviceFor(id)
		if !ok {
			og := kmsg.NewDeleteGroupsResponseGroup()
			og.Group, og.ErrorCode = id, notCoordinator
			resp.Groups = append(resp.Groups, og)
			continue
		}
		one := *req
		one.Groups = []string{id}
		r := svc.DeleteGroups(ctx, &one)
		if r == nil {
			return nil
		}
		resp.Groups = append(resp.Groups, r.Groups...)
	}
	return resp
}

// OffsetDelete implements handler.Groups.
func (g *clusterGroups) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	if svc, ok := g.serviceFor(req.Group); ok {
		return svc.OffsetDelete(ctx, req)
	}
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	resp.ErrorCode = notCoordinator
	return resp
}
