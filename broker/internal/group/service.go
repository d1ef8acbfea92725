package group

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Store makes __consumer_offsets records durable; the broker implements it
// over the partition log.
type Store interface {
	// Append returns once records are durable (the broker picks the fsync
	// policy), or an error if none of them are.
	Append(records []KV) error
}

// TxnStore is a Store that also writes transactional records (KV.Txn set:
// a producer's transactional batch, or its control record) the way Kafka
// lays them out in __consumer_offsets. A Store without it gets only the
// plain records; pending transactional offsets then live in memory only
// (lost if the coordinator moves before the transaction ends).
type TxnStore interface {
	AppendTxn(records []KV) error
}

// Config configures a Service.
type Config struct {
	InitialRebalanceDelay                time.Duration
	OffsetsRetention                     time.Duration
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// TopicExists gates OffsetCommit/OffsetDelete partitions (nil = all exist).
	TopicExists func(topic string, partition int32) bool
	// TopicNameByID / TopicIDByName serve OffsetCommit/OffsetFetch v10+.
	TopicNameByID func(id [16]byte) (string, bool)
	TopicIDByName func(name string) ([16]byte, bool)
	// TickInterval is how often Run fires timers.
	TickInterval time.Duration
	Now          func() time.Time
	Logger       *slog.Logger
}

// DefaultConfig returns Kafka's defaults with the wall clock.
func DefaultConfig() Config {
	d := DefaultCoordinatorConfig()
	return Config{
		InitialRebalanceDelay: d.InitialRebalanceDelay,
		OffsetsRetention:      d.OffsetsRetention,
		MinSessionTimeout:     d.MinSessionTimeout,
		MaxSessionTimeout:     d.MaxSessionTimeout,
		TickInterval:          100 * time.Millisecond,
		Now:                   time.Now,
	}
}

func (cfg Config) coordinatorConfig() CoordinatorConfig {
	cc := DefaultCoordinatorConfig()
	cc.InitialRebalanceDelay = cfg.InitialRebalanceDelay
	cc.OffsetsRetention = cfg.OffsetsRetention
	cc.MinSessionTimeout, cc.MaxSessionTimeout = cfg.MinSessionTimeout, cfg.MaxSessionTimeout
	cc.TopicExists, cc.TopicNameByID, cc.TopicIDByName = cfg.TopicExists, cfg.TopicNameByID, cfg.TopicIDByName
	cc.Logger = cfg.Logger
	cc.NewMemberID = randomMemberID
	return cc
}

// randomMemberID is Kafka's clientID + "-" + UUID v4.
func randomMemberID(clientID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", clientID, b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Service drives a Coordinator for the broker: one mutex, a Store, a ticker.
type Service struct {
	cfg   Config
	store Store
	log   *slog.Logger

	mu sync.Mutex
	c  *Coordinator
	// outbox holds answers produced while mu is held; they are released
	// only after the records they depend on are durable.
	outbox []func()
}

// NewService returns a Service; fields of cfg left zero take DefaultConfig's
// value (InitialRebalanceDelay excepted: zero is meaningful). A nil store
// keeps everything in memory. It returns an error wrapping ErrInvalidConfig.
func NewService(cfg Config, store Store) (*Service, error) {
	d := DefaultConfig()
	if cfg.OffsetsRetention == 0 {
		cfg.OffsetsRetention = d.OffsetsRetention
	}
	if cfg.MinSessionTimeout == 0 {
		cfg.MinSessionTimeout = d.MinSessionTimeout
	}
	if cfg.MaxSessionTimeout == 0 {
		cfg.MaxSessionTimeout = d.MaxSessionTimeout
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = d.TickInterval
	}
	if cfg.Now == nil {
		cfg.Now = d.Now
	}
	c, err := NewCoordinator(cfg.coordinatorConfig())
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, store: store, log: c.log, c: c}, nil
}

// Load replays records (in log order) before serving.
func (s *Service) Load(records []KV) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.Load(s.cfg.Now(), records)
}

// Run fires timers every TickInterval until ctx is done.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.do(func(now time.Time) { s.c.Tick(now) })
		}
	}
}

// do runs f against the coordinator, makes what it queued durable, then
// releases the answers it produced.
func (s *Service) do(f func(now time.Time)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.cfg.Now())
	for s.c.HasReady() {
		records := s.c.Ready()
		var err error
		if s.store != nil {
			err = s.append(records)
		}
		if err != nil {
			s.log.Error("appending group records failed", "records", len(records), "err", err)
		}
		s.c.Advance(err)
	}
	out := s.outbox
	s.outbox = nil
	for _, deliver := range out {
		deliver()
	}
}

// deliverLater wraps a completion so the answer waits in the outbox until
// the surrounding do has persisted everything.
func deliverLater[T any](s *Service, ch chan<- T) func(T) {
	return func(v T) {
		s.outbox = append(s.outbox, func() { ch <- v }) // ch has room: completions fire once
	}
}

// wait returns the answer, or the zero value once ctx is done: a parked
// request whose connection went away is abandoned, and the answer the
// coordinator later produces for it is dropped. (The member stays in the
// group until its session or the rebalance timeout removes it, as in Kafka.)
func wait[T any](ctx context.Context, ch <-chan T) T {
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		var zero T
		return zero
	}
}

type clientKey struct{}

// WithClient attaches the request's client id and peer host to ctx; JoinGroup
// records them for DescribeGroups and the group metadata.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

func clientFrom(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return c
}

// JoinGroup blocks until the rebalance answers the request. It returns nil
// only if ctx is done first.
func (s *Service) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	client := clientFrom(ctx)
	s.do(func(now time.Time) { s.c.JoinGroup(now, client, req, deliverLater(s, ch)) })
	return wait(ctx, ch)
}

// SyncGroup blocks until the leader's assignment is durable (or the
// generation is abandoned). It returns nil only if ctx is done first.
func (s *Service) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	s.do(func(now time.Time) { s.c.SyncGroup(now, req, deliverLater(s, ch)) })
	return wait(ctx, ch)
}

// Heartbeat answers at once.
func (s *Service) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	var r *kmsg.HeartbeatResponse
	s.do(func(now time.Time) { r = s.c.Heartbeat(now, req) })
	return r
}

// LeaveGroup answers once the departures are applied.
func (s *Service) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	var r *kmsg.LeaveGroupResponse
	s.do(func(now time.Time) { r = s.c.LeaveGroup(now, req) })
	return r
}

// OffsetCommit answers once the accepted offsets are durable.
func (s *Service) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	ch := make(chan *kmsg.OffsetCommitResponse, 1)
	s.do(func(now time.Time) { s.c.OffsetCommit(now, req, deliverLater(s, ch)) })
	return <-ch // never parks beyond do: the write has completed
}

// OffsetFetch answers at once.
func (s *Service) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	var r *kmsg.OffsetFetchResponse
	s.do(func(now time.Time) { r = s.c.OffsetFetch(now, req) })
	return r
}

// ListGroups answers at once.
func (s *Service) ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	var r *kmsg.ListGroupsResponse
	s.do(func(time.Time) { r = s.c.ListGroups(req) })
	return r
}

// DescribeGroups answers at once.
func (s *Service) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	var r *kmsg.DescribeGroupsResponse
	s.do(func(time.Time) { r = s.c.DescribeGroups(req) })
	return r
}

// DeleteGroups answers once the tombstones are durable.
func (s *Service) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	ch := make(chan *kmsg.DeleteGroupsResponse, 1)
	s.do(func(now time.Time) { s.c.DeleteGroups(now, req, deliverLater(s, ch)) })
	return <-ch
}

// OffsetDelete answers once the tombstones are durable.
func (s *Service) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	ch := make(chan *kmsg.OffsetDeleteResponse, 1)
	s.do(func(now time.Time) { s.c.OffsetDelete(now, req, deliverLater(s, ch)) })
	return <-ch
}

// TxnOffsetCommit answers once the pending offsets are durable.
func (s *Service) TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	ch := make(chan *kmsg.TxnOffsetCommitResponse, 1)
	s.do(func(now time.Time) { s.c.TxnOffsetCommit(now, req, deliverLater(s, ch)) })
	return <-ch
}

// CompleteTxn applies a transaction marker to the producer's pending
// offsets of the groups owns selects (nil: all), returning once the
// outcome is durable: the broker calls it from WriteTxnMarkers for a
// __consumer_offsets partition, before acknowledging the marker.
func (s *Service) CompleteTxn(producerID int64, producerEpoch int16, commit bool, owns func(group string) bool) error {
	ch := make(chan error, 1)
	s.do(func(time.Time) { s.c.CompleteTxn(producerID, producerEpoch, commit, owns, deliverLater(s, ch)) })
	return <-ch
}

// append hands records to the store: all of them to a TxnStore, only the
// plain ones to any other.
func (s *Service) append(records []KV) error {
	hasTxn := false
	for _, r := range records {
		hasTxn = hasTxn || r.Txn != nil
	}
	if !hasTxn {
		return s.store.Append(records)
	}
	if ts, ok := s.store.(TxnStore); ok {
		return ts.AppendTxn(records)
	}
	plain := make([]KV, 0, len(records))
	for _, r := range records {
		if r.Txn == nil {
			plain = append(plain, r)
		}
	}
	if len(plain) == 0 {
		return nil
	}
	return s.store.Append(plain)
}
