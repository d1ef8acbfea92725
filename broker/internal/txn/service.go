package txn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/faults"
)

// Store makes __transaction_state records durable; the broker implements
// it over the partition log (replicated, acks=all, in cluster mode).
type Store interface {
	// Append returns once records are durable, or an error if they are
	// not (then none of them counts).
	Append(records []KV) error
}

// Markers delivers WriteTxnMarkers requests to the partitions' leaders
// (the local handler on a single node, the wire in a cluster).
type Markers interface {
	WriteTxnMarkers(ctx context.Context, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error)
}

// ServiceConfig configures a Service.
type ServiceConfig struct {
	Coordinator Config
	// CoordinatorEpoch is the leader epoch of the __transaction_state
	// partition this Service coordinates, sent with every marker so a
	// partition can refuse markers of a deposed coordinator.
	CoordinatorEpoch int32
	// OffsetsPartition is the __consumer_offsets partition of a group
	// (AddOffsetsToTxn adds it to the transaction).
	OffsetsPartition func(group string) (int32, error)
	// PartitionExists gates AddPartitionsToTxn (nil: all exist) and lets
	// the marker writer give up on partitions deleted meanwhile.
	PartitionExists func(topic string, partition int32) bool
	// AbortCheckInterval is how often timed-out transactions are looked
	// for (transaction.abort.timed.out.transaction.cleanup.interval.ms);
	// ExpireCheckInterval the same for expired ids.
	AbortCheckInterval, ExpireCheckInterval time.Duration
	// MarkerRetryBackoff is the pause before markers are re-sent to
	// partitions that did not acknowledge them.
	MarkerRetryBackoff time.Duration
	Now                func() time.Time
	Logger             *slog.Logger
}

// Service drives a Coordinator; see the package doc.
type Service struct {
	cfg     ServiceConfig
	store   Store
	markers Markers
	log     *slog.Logger

	mu sync.Mutex
	c  *Coordinator
	// writing holds the ids whose marker goroutine runs.
	writing map[string]bool
	// runCtx is Run's context once Run started (nil before): marker
	// goroutines live under it.
	runCtx context.Context
	wg     sync.WaitGroup
}

// NewService returns a Service. Intervals left zero get Kafka's defaults.
func NewService(cfg ServiceConfig, store Store, markers Markers) (*Service, error) {
	c, err := NewCoordinator(cfg.Coordinator)
	if err != nil {
		return nil, err
	}
	if cfg.AbortCheckInterval <= 0 {
		cfg.AbortCheckInterval = 10 * time.Second
	}
	if cfg.ExpireCheckInterval <= 0 {
		cfg.ExpireCheckInterval = time.Hour
	}
	if cfg.MarkerRetryBackoff <= 0 {
		cfg.MarkerRetryBackoff = 100 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{cfg: cfg, store: store, markers: markers, log: cfg.Logger, c: c, writing: map[string]bool{}}, nil
}

// Load replays records (in log order) before Run.
func (s *Service) Load(records []KV) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.Load(records)
}

// Run resumes the markers of every prepared transaction, then aborts
// timed-out transactions and expires idle ids until ctx is done. It
// returns once every goroutine it started has ended.
func (s *Service) Run(ctx context.Context) {
	s.mu.Lock()
	s.runCtx = ctx
	for _, m := range s.c.Pending() {
		s.startMarkers(m)
	}
	s.mu.Unlock()
	abort := time.NewTicker(s.cfg.AbortCheckInterval)
	expire := time.NewTicker(s.cfg.ExpireCheckInterval)
	defer func() {
		abort.Stop()
		expire.Stop()
		s.wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-abort.C:
			s.AbortTimedOut()
		case <-expire.C:
			s.ExpireIDs()
		}
	}
}

// AbortTimedOut fences and aborts every transaction open longer than its
// timeout (Run calls it every AbortCheckInterval).
func (s *Service) AbortTimedOut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	for _, id := range s.c.TimedOut(now) {
		d := s.commitLocked(s.c.AbortTimedOut(now, id))
		s.log.Info("aborting timed-out transaction", "transactional.id", id, "producer_id", d.ProducerID,
			"epoch", d.ProducerEpoch, "err", d.Err)
	}
}

// ExpireIDs deletes ids idle longer than the expiration.
func (s *Service) ExpireIDs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	for _, id := range s.c.Expired(now) {
		s.commitLocked(s.c.Expire(now, id))
	}
}

// decide runs one decision under the mutex and makes it durable.
func (s *Service) decide(f func(now time.Time) Decision) Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commitLocked(f(s.cfg.Now()))
}

// commitLocked persists and applies d.Next (if any) and starts the
// markers a Prepare state owes. A failed write turns d into the error the
// client gets: a retriable coordinator error, as Kafka maps append errors.
func (s *Service) commitLocked(d Decision) Decision {
	if d.Next == nil {
		return d
	}
	if s.store != nil {
		if err := s.store.Append([]KV{d.Next.Record()}); err != nil {
			s.log.Warn("writing transaction state failed", "transactional.id", d.Next.TransactionalID, "err", err)
			code := kerr.CoordinatorNotAvailable
			if errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.NotCoordinator) {
				code = kerr.NotCoordinator
			}
			return fail(fmt.Errorf("%w: %v", code, err))
		}
	}
	s.c.Apply(*d.Next)
	if st := d.Next.State; st == PrepareCommit || st == PrepareAbort {
		s.startMarkers(*d.Next)
	}
	return d
}

// startMarkers starts the goroutine writing m's markers, unless Run has
// not started yet (it starts them for every pending transaction) or one
// already runs for the id.
func (s *Service) startMarkers(m Metadata) {
	if s.runCtx == nil || s.writing[m.TransactionalID] || s.runCtx.Err() != nil {
		return
	}
	s.writing[m.TransactionalID] = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.writeMarkers(s.runCtx, m)
	}()
}

// writeMarkers sends m's markers until every partition acknowledged them,
// then completes the transaction.
func (s *Service) writeMarkers(ctx context.Context, m Metadata) {
	if !s.sendUntilAcknowledged(ctx, m, m.Partitions) {
		s.mu.Lock()
		delete(s.writing, m.TransactionalID)
		s.mu.Unlock()
		return
	}
	for {
		if s.complete(m) || !sleep(ctx, s.cfg.MarkerRetryBackoff) {
			return
		}
	}
}

// complete records CompleteCommit/CompleteAbort for m. It reports true
// when the job is over (completed, or the state moved on meanwhile: a
// reload), having released the id in the same critical section, so the
// next transaction's markers can never find the id still taken.
func (s *Service) complete(m Metadata) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.commitLocked(s.c.MarkersWritten(s.cfg.Now(), m.TransactionalID, m.ProducerID, m.ProducerEpoch))
	if d.Err == nil || errors.Is(d.Err, kerr.InvalidTxnState) || s.runCtx.Err() != nil {
		delete(s.writing, m.TransactionalID)
		return true
	}
	s.log.Warn("completing transaction failed; retrying", "transactional.id", m.TransactionalID, "err", d.Err)
	return false
}

// sendUntilAcknowledged re-sends to the partitions not yet acknowledged.
// It reports false if the job must stop (ctx done, or a partition says
// this coordinator or producer epoch is stale).
func (s *Service) sendUntilAcknowledged(ctx context.Context, m Metadata, parts map[TopicPartition]struct{}) bool {
	remaining := Metadata{Partitions: parts}.Clone().Partitions
	if m.State == PrepareCommit && faults.Planted(faults.TxnMarkerPartial) && !s.abortAllButFirst(ctx, m, remaining) {
		return false // planted bug (faults/planted.go)
	}
	for len(remaining) > 0 {
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		req.Version = 1
		mk := kmsg.NewWriteTxnMarkersRequestMarker()
		mk.ProducerID, mk.ProducerEpoch, mk.Committed = m.ProducerID, m.ProducerEpoch, m.State == PrepareCommit
		mk.CoordinatorEpoch = s.cfg.CoordinatorEpoch
		for _, tp := range (Metadata{Partitions: remaining}).SortedPartitions() {
			if n := len(mk.Topics); n > 0 && mk.Topics[n-1].Topic == tp.Topic {
				mk.Topics[n-1].Partitions = append(mk.Topics[n-1].Partitions, tp.Partition)
				continue
			}
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic, t.Partitions = tp.Topic, []int32{tp.Partition}
			mk.Topics = append(mk.Topics, t)
		}
		req.Markers = []kmsg.WriteTxnMarkersRequestMarker{mk}
		resp, err := s.markers.WriteTxnMarkers(ctx, req)
		if ctx.Err() != nil {
			return false
		}
		if err != nil {
			s.log.Debug("writing transaction markers", "transactional.id", m.TransactionalID, "err", err)
		} else if stop := s.absorb(m, resp, remaining); stop {
			return false
		}
		if len(remaining) > 0 && !sleep(ctx, s.cfg.MarkerRetryBackoff) {
			return false
		}
	}
	return true
}

// absorb removes the partitions resp acknowledged from remaining (and the
// ones that no longer exist); it reports true when the job must stop.
func (s *Service) absorb(m Metadata, resp *kmsg.WriteTxnMarkersResponse, remaining map[TopicPartition]struct{}) bool {
	for _, rm := range resp.Markers {
		if rm.ProducerID != m.ProducerID {
			continue
		}
		for _, t := range rm.Topics {
			for _, p := range t.Partitions {
				tp := TopicPartition{t.Topic, p.Partition}
				switch code := p.ErrorCode; {
				case code == 0,
					code == kerr.UnsupportedForMessageFormat.Code, code == kerr.UnsupportedVersion.Code:
					delete(remaining, tp)
				case code == kerr.UnknownTopicOrPartition.Code && s.cfg.PartitionExists != nil && !s.cfg.PartitionExists(tp.Topic, tp.Partition):
					delete(remaining, tp) // deleted: nobody reads it any more
				case code == kerr.TransactionCoordinatorFenced.Code || code == kerr.InvalidProducerEpoch.Code || code == kerr.ProducerFenced.Code:
					s.log.Warn("markers refused: a newer coordinator or producer epoch exists", "transactional.id", m.TransactionalID,
						"topic", tp.Topic, "partition", tp.Partition, "err", kerr.ErrorForCode(code))
					return true
				}
			}
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Describe returns a copy of id's state.
func (s *Service) Describe(id string) (Metadata, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.Get(id)
}

// All returns a copy of every transaction's state, sorted by id.
func (s *Service) All() []Metadata {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Metadata
	for _, id := range s.c.IDs() {
		m, _ := s.c.Get(id)
		out = append(out, m)
	}
	return out
}
