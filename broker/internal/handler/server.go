package handler

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/broker/internal/metrics"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

// Groups is what the group API handlers need from the group coordinator:
// one blocking call per API, taking the decoded request (its version set)
// and returning the response for that version.
type Groups interface {
	JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse
	SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse
	Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse
	LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse
	OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse
	OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse
	ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse
	DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse
	DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse
	OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse
}

// Config wires a Server to the broker's state.
type Config struct {
	NodeID         int32
	AdvertisedHost string
	AdvertisedPort int32
	Rack           string
	ClusterID      string
	Broker         *config.Broker
	Topics         *topics.Catalog
	Groups         Groups
	ProducerIDs    ProducerIDs // InitProducerId; nil answers COORDINATOR_NOT_AVAILABLE
	Now            func() time.Time
	Logger         *slog.Logger
	Metrics        *metrics.Metrics // request, byte and message counts; nil: none
	Cluster        Cluster          // nil: single-node mode (see cluster.go)
	Replication    Replication      // cluster mode data plane (replication.go); nil: single-node mode

	// OnTxnMarker, when set, is told the outcome of a transaction marker
	// for a __consumer_offsets partition this node leads (WriteTxnMarkers):
	// the group coordinator materializes the producer's TxnOffsetCommit
	// offsets on commit and drops them on abort.
	OnTxnMarker func(topic string, partition int32, producerID int64, producerEpoch int16, commit bool)
	// PreferredReadReplica, when set, picks the replica a consumer in
	// clientRack should fetch from (KIP-392), -1 for none (fetch here).
	PreferredReadReplica func(topic string, partition int32, clientRack string) int32
	// VerifyTxnPartition, when set, is asked before a transactional batch
	// would open its producer's transaction in a partition (KIP-890 part
	// 1): nil means the coordinator holds the partition in that producer's
	// ongoing transaction; an error refuses the batch (a *kerr.Error is
	// answered as is, anything else as INVALID_TXN_STATE).
	VerifyTxnPartition func(ctx context.Context, transactionalID string, producerID int64, producerEpoch int16, topic string, partition int32) error
}

// Server answers requests. It is safe for concurrent use by many connections.
type Server struct {
	cfg      Config
	log      *slog.Logger
	sessions *fetchSessions
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{cfg: cfg, log: cfg.Logger, sessions: newFetchSessions(cfg.Now)}
}

// Conn is what a handler knows about the connection a request came on.
type Conn struct {
	ClientID   string
	RemoteAddr string
}

// Dispatch answers one decoded request. A nil response means send nothing;
// an error means close the connection.
func (s *Server) Dispatch(ctx context.Context, c *Conn, req kmsg.Request) (kmsg.Response, error) {
	a, ok := registry[req.Key()]
	if !ok {
		return nil, fmt.Errorf("unsupported API key %d", req.Key())
	}
	if v := req.GetVersion(); v < a.minVersion || v > a.maxVersion {
		return nil, fmt.Errorf("unsupported version %d of %s (supported %d-%d)", v, a.name, a.minVersion, a.maxVersion)
	}
	if m := s.cfg.Metrics; m != nil {
		start := s.cfg.Now()
		defer func() { m.Request(req, s.cfg.Now().Sub(start)) }()
	}
	return a.handle(ctx, s, c, req)
}
