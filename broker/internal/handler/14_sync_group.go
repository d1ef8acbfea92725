package handler

// SyncGroup (key 14), versions 0-5.
//
// The leader's assignment is made durable in __consumer_offsets before any
// member gets its share; followers park until then. v5+ checks the protocol
// type and name against the group's (INCONSISTENT_GROUP_PROTOCOL) and echoes
// them. A closed connection abandons the parked request. Same range as
// Kafka 4.0.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.SyncGroup, 0, 5, (*Server).syncGroup) }

func (s *Server) syncGroup(ctx context.Context, _ *Conn, req *kmsg.SyncGroupRequest) (*kmsg.SyncGroupResponse, error) {
	if s.cfg.Groups == nil {
		return nil, errNoGroupCoordinator
	}
	return parked(s.cfg.Groups.SyncGroup(ctx, req), ctx)
}
