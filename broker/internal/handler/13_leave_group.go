package handler

// LeaveGroup (key 13), versions 0-5.
//
// v0-2 remove one member id, its outcome in the top-level error code; v3+
// remove a batch of members by member id and/or group.instance.id (KIP-345
// admin removal by instance id alone), each with its own error code.
// Reason (v5+) is accepted and ignored. Same range as Kafka 4.0.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.LeaveGroup, 0, 5, (*Server).leaveGroup) }

func (s *Server) leaveGroup(ctx context.Context, _ *Conn, req *kmsg.LeaveGroupRequest) (*kmsg.LeaveGroupResponse, error) {
	if s.cfg.Groups == nil {
		return nil, errNoGroupCoordinator
	}
	return parked(s.cfg.Groups.LeaveGroup(ctx, req), ctx)
}
