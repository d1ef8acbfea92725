package handler

// DescribeCluster (key 60), versions 0-2.
//
// This node is the only broker and the controller. EndpointType 2
// (controllers, v1+) answers the same node, which runs both roles.
// Not implemented: authorized operations.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeCluster, 0, 2, (*Server).describeCluster) }

func (s *Server) describeCluster(_ context.Context, _ *Conn, req *kmsg.DescribeClusterRequest) (*kmsg.DescribeClusterResponse, error) {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	resp.ClusterID = s.cfg.ClusterID
	resp.ControllerID = s.cfg.NodeID
	resp.ClusterAuthorizedOperations = authorizedOpsNotRequested
	b := kmsg.NewDescribeClusterResponseBroker()
	b.NodeID, b.Host, b.Port = s.cfg.NodeID, s.cfg.AdvertisedHost, s.cfg.AdvertisedPort
	if s.cfg.Rack != "" {
		b.Rack = &s.cfg.Rack
	}
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{b}
	return resp, nil
}
