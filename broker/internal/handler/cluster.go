package handler

// Cluster mode (process.roles=broker,controller): what the handlers ask of
// the metadata plane. With Config.Cluster nil every handler is the
// single-node broker, unchanged.
//
// Metadata answers from this node's metadata image; the topic admin APIs
// (CreateTopics, CreatePartitions, DeleteTopics, AlterConfigs,
// IncrementalAlterConfigs for topics, ElectLeaders) are decided by the
// active controller: in-process when this node is it, else forwarded to
// its controller listener (KIP-590; clients such as kadm send
// AlterConfigs to any node). Produce, Fetch and ListOffsets are served only by a
// partition's leader (NOT_LEADER_OR_FOLLOWER elsewhere, with KIP-951's
// CurrentLeader and NodeEndpoints where the version has them), and leader
// epochs are checked against the image (KIP-320). Data replication goes
// through Config.Replication (replication.go).

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/metadata"
	"github.com/highwater-io/highwater/broker/internal/metaserver"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

// ControllerAPI is the active controller's Go API: in-process while this
// node leads the quorum, forwarded to the active controller otherwise
// (KIP-590). A *metaserver.NotControllerError means no controller could
// be reached.
type ControllerAPI interface {
	CreateTopics(ctx context.Context, reqs []controller.CreateTopic) ([]controller.CreateTopicResult, error)
	CreatePartitions(ctx context.Context, reqs []controller.CreatePartitions) ([]error, error)
	DeleteTopics(ctx context.Context, names []string, ids []metadata.UUID) ([]error, error)
	AlterConfigs(ctx context.Context, reqs []controller.AlterConfig) ([]error, error)
	ElectLeaders(ctx context.Context, typ controller.ElectionType, partitions []controller.TopicPartition) ([]controller.ElectionResult, error)
}

// Cluster is the metadata plane as the handlers see it.
type Cluster interface {
	// Image is the newest metadata image applied on this node.
	Image() metadata.Image
	// ControllerID is the active controller (the quorum leader), -1 if
	// unknown.
	ControllerID() int32
	// Controller is the in-process controller API.
	Controller() ControllerAPI
	// WaitLocal waits until the catalogue holds what the image says this
	// node hosts (the driver has caught up with the image at least as new
	// as the one the caller saw).
	WaitLocal(ctx context.Context) error
	// CaughtUp reports whether this node's image has caught up with the
	// quorum since the process started (it holds this process's own
	// registration). Before that the image may be a stale replay naming
	// this node leader of partitions that moved; it serves no partition
	// as leader.
	CaughtUp() bool
}

// clusterErr maps controller and metaserver errors to Kafka errors.
func clusterErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, metaserver.ErrNotController):
		return kerrWithMessage(kerr.NotController, "%v", err)
	case errors.Is(err, metaserver.ErrOutcomeUnknown), errors.Is(err, context.DeadlineExceeded):
		return kerrWithMessage(kerr.RequestTimedOut, "%v", err)
	case errors.Is(err, metaserver.ErrStopped), errors.Is(err, context.Canceled):
		return kerrWithMessage(kerr.NotController, "%v", err)
	}
	if code := controller.Code(err); code != 0 {
		if ke := kerr.ErrorForCode(code); ke != nil {
			return kerrWithMessage(ke.(*kerr.Error), "%v", err)
		}
	}
	return err
}

// leaderPartition resolves a partition this node must lead in cluster
// mode: the image's leader and epoch decide, the catalogue holds the log.
// It checks clientEpoch (-1: unknown) against the image's leader epoch.
// In single-node mode it is s.partition plus checkLeaderEpoch.
func (s *Server) leaderPartition(t *topics.Topic, ok bool, index int32, byID bool, clientEpoch int32) (*topics.Partition, error) {
	p, err := s.partition(t, ok, index, byID)
	if s.cfg.Cluster == nil {
		if err != nil {
			return nil, err
		}
		return p, checkLeaderEpoch(clientEpoch)
	}
	if !ok {
		return nil, err
	}
	ip, found := s.cfg.Cluster.Image().Partition(metadata.UUID(t.ID), index)
	if !found {
		return nil, kerr.UnknownTopicOrPartition
	}
	switch {
	case clientEpoch >= 0 && clientEpoch < ip.LeaderEpoch:
		return nil, kerr.FencedLeaderEpoch
	case clientEpoch > ip.LeaderEpoch:
		return nil, kerr.UnknownLeaderEpoch
	case ip.Leader != s.cfg.NodeID, !s.cfg.Cluster.CaughtUp():
		return nil, kerr.NotLeaderForPartition
	case p == nil:
		// Led here by the image but not opened by the driver yet.
		return nil, kerr.NotLeaderForPartition
	}
	return p, nil
}

// currentLeader is KIP-951's hint for a NOT_LEADER_OR_FOLLOWER answer: the
// image's leader and epoch of the partition, and its endpoint.
func (s *Server) currentLeader(topicID [16]byte, index int32) (leader, epoch int32, ep *metadata.Endpoint) {
	if s.cfg.Cluster == nil {
		return -1, -1, nil
	}
	img := s.cfg.Cluster.Image()
	ip, ok := img.Partition(metadata.UUID(topicID), index)
	if !ok || ip.Leader < 0 {
		return -1, -1, nil
	}
	if b, ok := img.Broker(ip.Leader); ok {
		for _, e := range b.Endpoints {
			if e.Name == "PLAINTEXT" {
				e := e
				return ip.Leader, ip.LeaderEpoch, &e
			}
		}
	}
	return ip.Leader, ip.LeaderEpoch, nil
}

// notLeader reports whether err is NOT_LEADER_OR_FOLLOWER or a leader
// epoch error, the answers that carry KIP-951's leader hint.
func notLeader(err error) bool {
	return errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.FencedLeaderEpoch) ||
		errors.Is(err, kerr.UnknownLeaderEpoch)
}

// clusterReplicas is a partition's replica count in cluster mode (1 in
// single-node mode).
func (s *Server) clusterReplicas(topicID [16]byte, index int32) int {
	if s.cfg.Cluster == nil {
		return 1
	}
	ip, ok := s.cfg.Cluster.Image().Partition(metadata.UUID(topicID), index)
	if !ok {
		return 1
	}
	return len(ip.Replicas)
}
