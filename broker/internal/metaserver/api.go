package metaserver

import (
	"context"
	"slices"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/metadata"
)

// The Go API of the active controller. Every method is served only by the
// node that leads the quorum: elsewhere it returns a *NotControllerError
// naming the leader. A nil error means the decision is committed (and
// applied to this node's image); per-item Kafka errors are in the results
// (controller.Code maps them to wire codes); request-level Kafka errors
// (STALE_BROKER_EPOCH, ...) are the returned error, wrapping the
// controller package's sentinels. ErrOutcomeUnknown and context errors
// leave the outcome unknown.

// Heartbeat is a BrokerHeartbeat request.
type Heartbeat struct {
	BrokerID    int32
	BrokerEpoch int64
	// MetadataOffset is the offset of the metadata log the broker has
	// applied (-1: unknown). It is caught up once it reaches the entry of
	// its own registration.
	MetadataOffset int64
	WantFence      bool
	WantShutDown   bool
}

// HeartbeatReply answers a Heartbeat.
type HeartbeatReply struct {
	IsCaughtUp           bool
	IsFenced             bool
	InControlledShutdown bool
	ShouldShutDown       bool
}

// callFor runs fn on the controller loop and returns its answer once the
// records are committed; on any error the answer is the zero value (the
// loop may still be writing it when the caller's context ends).
func callFor[T any](ctx context.Context, s *Server, fn func(c *controller.Controller, st *State, nowMs int64) (T, []metadata.Record, error)) (T, error) {
	var out T
	err := s.call(ctx, func(c *controller.Controller, st *State, nowMs int64) ([]metadata.Record, error) {
		v, recs, err := fn(c, st, nowMs)
		out = v
		return recs, err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// CreateTopics creates topics (rack-aware placement).
func (s *Server) CreateTopics(ctx context.Context, reqs []controller.CreateTopic) ([]controller.CreateTopicResult, error) {
	return callFor(ctx, s, func(c *controller.Controller, _ *State, _ int64) ([]controller.CreateTopicResult, []metadata.Record, error) {
		return c.CreateTopics(reqs)
	})
}

// CreatePartitions grows topics.
func (s *Server) CreatePartitions(ctx context.Context, reqs []controller.CreatePartitions) ([]error, error) {
	return callFor(ctx, s, func(c *controller.Controller, _ *State, _ int64) ([]error, []metadata.Record, error) {
		return c.CreatePartitions(reqs)
	})
}

// DeleteTopics deletes topics by name, or by id where the name is empty.
func (s *Server) DeleteTopics(ctx context.Context, names []string, ids []metadata.UUID) ([]error, error) {
	return callFor(ctx, s, func(c *controller.Controller, _ *State, _ int64) ([]error, []metadata.Record, error) {
		return c.DeleteTopics(names, ids)
	})
}

// AlterConfigs changes topic and broker configs incrementally.
func (s *Server) AlterConfigs(ctx context.Context, reqs []controller.AlterConfig) ([]error, error) {
	return callFor(ctx, s, func(c *controller.Controller, _ *State, _ int64) ([]error, []metadata.Record, error) {
		return c.AlterConfigs(reqs)
	})
}

// RegisterBroker registers a broker (fenced) and returns its new epoch.
func (s *Server) RegisterBroker(ctx context.Context, reg controller.Registration) (int64, error) {
	return callFor(ctx, s, func(c *controller.Controller, _ *State, nowMs int64) (int64, []metadata.Record, error) {
		return c.RegisterBroker(reg, nowMs)
	})
}

// BrokerHeartbeat renews a broker's session; see controller.Heartbeat for
// the state moves (unfencing once caught up, controlled shutdown).
func (s *Server) BrokerHeartbeat(ctx context.Context, hb Heartbeat) (HeartbeatReply, error) {
	return callFor(ctx, s, func(c *controller.Controller, st *State, nowMs int64) (HeartbeatReply, []metadata.Record, error) {
		regAt, ok := st.RegistrationOffset(hb.BrokerID)
		caughtUp := ok && hb.MetadataOffset >= 0 && uint64(hb.MetadataOffset) >= regAt
		r, recs, err := c.Heartbeat(controller.Heartbeat{BrokerID: hb.BrokerID, BrokerEpoch: hb.BrokerEpoch,
			CaughtUp: caughtUp, WantFence: hb.WantFence, WantShutDown: hb.WantShutDown}, nowMs)
		return HeartbeatReply{IsCaughtUp: caughtUp, IsFenced: r.IsFenced,
			InControlledShutdown: r.InControlledShutdown, ShouldShutDown: r.ShouldShutDown}, recs, err
	})
}

// AlterPartition applies a partition leader's ISR change proposals.
func (s *Server) AlterPartition(ctx context.Context, brokerID int32, brokerEpoch int64, items []controller.AlterPartitionItem) ([]controller.AlterPartitionResult, error) {
	items = slices.Clone(items)
	return callFor(ctx, s, func(c *controller.Controller, _ *State, _ int64) ([]controller.AlterPartitionResult, []metadata.Record, error) {
		return c.AlterPartition(brokerID, brokerEpoch, items)
	})
}

// ElectLeaders runs preferred or unclean elections (nil: every partition).
func (s *Server) ElectLeaders(ctx context.Context, typ controller.ElectionType, partitions []controller.TopicPartition) ([]controller.ElectionResult, error) {
	return callFor(ctx, s, func(c *controller.Controller, _ *State, _ int64) ([]controller.ElectionResult, []metadata.Record, error) {
		return c.ElectLeaders(typ, partitions)
	})
}

// ProducerIDBlock is a block of producer ids [First, First+Size).
type ProducerIDBlock struct{ First, Size int64 }

// AllocateProducerIDs hands a broker a block of producer ids (KIP-730).
func (s *Server) AllocateProducerIDs(ctx context.Context, brokerID int32, brokerEpoch int64) (ProducerIDBlock, error) {
	return callFor(ctx, s, func(c *controller.Controller, _ *State, _ int64) (ProducerIDBlock, []metadata.Record, error) {
		f, n, recs, err := c.AllocateProducerIDs(brokerID, brokerEpoch)
		return ProducerIDBlock{First: f, Size: n}, recs, err
	})
}

// ControlledShutdown is one heartbeat asking to shut down (KRaft's
// controlled shutdown rides on heartbeats): the first moves the broker's
// leaderships away, a later one answers ShouldShutDown once it leads
// nothing. BrokerLifecycle.Shutdown repeats it until then.
func (s *Server) ControlledShutdown(ctx context.Context, brokerID int32, brokerEpoch int64, metadataOffset int64) (HeartbeatReply, error) {
	return s.BrokerHeartbeat(ctx, Heartbeat{BrokerID: brokerID, BrokerEpoch: brokerEpoch,
		MetadataOffset: metadataOffset, WantShutDown: true})
}
