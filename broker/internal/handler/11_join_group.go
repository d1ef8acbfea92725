package handler

// JoinGroup (key 11), versions 0-9.
//
// Served by the classic group coordinator (broker/internal/group): KIP-62
// rebalance timeout (v1+; v0 uses the session timeout), KIP-394
// MEMBER_ID_REQUIRED (v4+), KIP-345 static membership (v5+), protocol type
// in the response (v7+), SkipAssignment for a rejoining static leader (v9+).
// The request parks until the rebalance answers it; a closed connection
// abandons it (the member then times out as in Kafka).
// Difference from Kafka 4.0: Kafka 4.0 removed v0-1 (KIP-896); they are kept
// here because they cost nothing and older clients (kafka-python 2.0.2
// speaks v0-2) still use them. Reason (v8+) is accepted and ignored.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.JoinGroup, 0, 9, (*Server).joinGroup) }

func (s *Server) joinGroup(ctx context.Context, c *Conn, req *kmsg.JoinGroupRequest) (*kmsg.JoinGroupResponse, error) {
	if s.cfg.Groups == nil {
		return nil, errNoGroupCoordinator
	}
	return parked(s.cfg.Groups.JoinGroup(groupCtx(ctx, c), req), ctx)
}
