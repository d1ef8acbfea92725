package handler

// FindCoordinator (key 10), versions 0-6.
//
// Single node: this broker coordinates every consumer group (key type 0) and
// every transactional id (key type 1). v4+ batches keys (CoordinatorKeys);
// v0-3 answer one key in the top-level fields. Key type 2 (share groups,
// v6) is answered INVALID_REQUEST: share groups are not implemented. When
// no group coordinator is wired in, group keys get COORDINATOR_NOT_AVAILABLE
// so clients retry instead of talking to a coordinator that is not there;
// so do transaction keys in cluster mode without a transaction
// coordinator. In cluster mode a group key is answered by Groups'
// GroupCoordinators (the leader of the group's __consumer_offsets
// partition) and a transaction key by the transaction coordinator's
// TxnCoordinators (the leader of the id's __transaction_state partition,
// the same placement); without them, or while the partition has no
// leader, COORDINATOR_NOT_AVAILABLE.
// Kafka 4.0 serves the same range (KIP-896 removed no FindCoordinator
// versions); kafka-python 2.0.2 uses v0-1, librdkafka 2.0.2 up to v2,
// franz-go up to v6.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.FindCoordinator, 0, 6, (*Server).findCoordinator) }

// GroupCoordinators places groups in cluster mode; the cluster's Groups
// implement it.
type GroupCoordinators interface {
	// Coordinator is the node coordinating groupID and its endpoint, or a
	// Kafka error (COORDINATOR_NOT_AVAILABLE while there is none).
	Coordinator(ctx context.Context, groupID string) (nodeID int32, host string, port int32, err error)
}

func (s *Server) findCoordinator(ctx context.Context, _ *Conn, req *kmsg.FindCoordinatorRequest) (*kmsg.FindCoordinatorResponse, error) {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Host, c.Port = key, s.cfg.NodeID, s.cfg.AdvertisedHost, s.cfg.AdvertisedPort
		switch {
		case req.CoordinatorType != 0 && req.CoordinatorType != 1:
			c.ErrorCode = kerr.InvalidRequest.Code
		case req.CoordinatorType == 0 && s.cfg.Groups == nil:
			c.ErrorCode = kerr.CoordinatorNotAvailable.Code
		case s.cfg.Cluster != nil && req.CoordinatorType == 0:
			loc, ok := s.cfg.Groups.(GroupCoordinators)
			if !ok {
				c.ErrorCode = kerr.CoordinatorNotAvailable.Code
				break
			}
			var err error
			if c.NodeID, c.Host, c.Port, err = loc.Coordinator(ctx, key); err != nil {
				c.ErrorCode = errorCode(err)
			}
		case s.cfg.Cluster != nil:
			loc, ok := s.cfg.ProducerIDs.(TxnCoordinators)
			if !ok {
				c.ErrorCode = kerr.CoordinatorNotAvailable.Code
				break
			}
			var err error
			if c.NodeID, c.Host, c.Port, err = loc.TxnCoordinator(ctx, key); err != nil {
				c.ErrorCode = errorCode(err)
			}
		}
		if c.ErrorCode != 0 {
			c.NodeID, c.Host, c.Port = -1, "", -1
			msg := kerr.ErrorForCode(c.ErrorCode).Error()
			c.ErrorMessage = &msg
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version < 4 {
		c := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
	}
	return resp, nil
}
