package handler

// Heartbeat (key 12), versions 0-4.
//
// Classic group heartbeat: NONE while the member's generation is current,
// REBALANCE_IN_PROGRESS during a join phase, ILLEGAL_GENERATION /
// UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID (v3+ static members) when fenced.
// Same range as Kafka 4.0.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.Heartbeat, 0, 4, (*Server).heartbeat) }

func (s *Server) heartbeat(ctx context.Context, _ *Conn, req *kmsg.HeartbeatRequest) (*kmsg.HeartbeatResponse, error) {
	if s.cfg.Groups == nil {
		return nil, errNoGroupCoordinator
	}
	return parked(s.cfg.Groups.Heartbeat(ctx, req), ctx)
}
