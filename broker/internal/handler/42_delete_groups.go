package handler

// DeleteGroups (key 42), versions 0-3.
//
// Deletes groups that have no members (NON_EMPTY_GROUP otherwise,
// GROUP_ID_NOT_FOUND for unknown ones) with their committed offsets, and
// answers once the tombstones are durable. Kafka 4.0 serves 0-2; v3 came
// later (KIP-1331, Kafka 4.4).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteGroups, 0, 3, (*Server).deleteGroups) }

func (s *Server) deleteGroups(ctx context.Context, _ *Conn, req *kmsg.DeleteGroupsRequest) (*kmsg.DeleteGroupsResponse, error) {
	if s.cfg.Groups == nil {
		return nil, errNoGroupCoordinator
	}
	return parked(s.cfg.Groups.DeleteGroups(ctx, req), ctx)
}
