package handler

// ListGroups (key 16), versions 0-5.
//
// Every live classic group with its protocol type; state (v4+) and type
// (v5+, always "classic") filters are case-insensitive. Same range as
// Kafka 4.0. Gap: no consumer (KIP-848) or share groups exist to list.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ListGroups, 0, 5, (*Server).listGroups) }

func (s *Server) listGroups(ctx context.Context, _ *Conn, req *kmsg.ListGroupsRequest) (*kmsg.ListGroupsResponse, error) {
	if s.cfg.Groups == nil {
		return nil, errNoGroupCoordinator
	}
	return parked(s.cfg.Groups.ListGroups(ctx, req), ctx)
}
