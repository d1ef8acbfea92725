package handler

// DescribeGroups (key 15), versions 0-6.
//
// Classic groups only: state, protocol type, and members (metadata and
// assignment only while Stable, as Kafka). An unknown group is reported as
// state "Dead" with no error on v0-5 and GROUP_ID_NOT_FOUND on v6+
// (KIP-1043). Authorized operations (v3+) report READ|DELETE|DESCRIBE when
// asked: there are no ACLs. Same range as Kafka 4.0.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeGroups, 0, 6, (*Server).describeGroups) }

func (s *Server) describeGroups(ctx context.Context, _ *Conn, req *kmsg.DescribeGroupsRequest) (*kmsg.DescribeGroupsResponse, error) {
	if s.cfg.Groups == nil {
		return nil, errNoGroupCoordinator
	}
	return parked(s.cfg.Groups.DescribeGroups(ctx, req), ctx)
}
