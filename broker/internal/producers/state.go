package producers

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors; the handler maps them to Kafka error codes.
var (
	// ErrInvalidProducerEpoch: the batch's epoch is older than the
	// producer's current one (INVALID_PRODUCER_EPOCH, which Kafka returns
	// for produce since 2.7 instead of the fatal PRODUCER_FENCED).
	ErrInvalidProducerEpoch = errors.New("producers: invalid producer epoch")
	// ErrOutOfOrderSequence: the batch does not continue the producer's
	// sequence (OUT_OF_ORDER_SEQUENCE_NUMBER).
	ErrOutOfOrderSequence = errors.New("producers: out of order sequence number")
	// ErrInvalidBatch: the batch carries a producer id with a negative
	// epoch or sequence, or a negative offset delta.
	ErrInvalidBatch = errors.New("producers: invalid idempotent batch")
	// ErrInvalidTxnState: a non-transactional batch from a producer whose
	// transaction is open in this partition (INVALID_TXN_STATE).
	ErrInvalidTxnState = errors.New("producers: invalid transaction state")
	// ErrCoordinatorFenced: a transaction marker from an older coordinator
	// epoch than the last marker's (TRANSACTION_COORDINATOR_FENCED).
	ErrCoordinatorFenced = errors.New("producers: transaction coordinator fenced")
)

// BatchesRetained is how many recent batches per producer are remembered
// for duplicate detection: Kafka's limit, which is why clients cap
// max.in.flight.requests.per.connection at 5 with idempotence.
const BatchesRetained = 5

// Kafka's defaults for producer.id.expiration.ms (1 day) and
// producer.id.expiration.check.interval.ms (10 minutes).
const (
	DefaultExpirationMs    = 86_400_000
	DefaultSweepIntervalMs = 600_000
)

// Config tunes a State.
type Config struct {
	ExpirationMs    int64 // producer.id.expiration.ms
	SweepIntervalMs int64 // producer.id.expiration.check.interval.ms
}

// DefaultConfig is Kafka's defaults.
func DefaultConfig() Config {
	return Config{ExpirationMs: DefaultExpirationMs, SweepIntervalMs: DefaultSweepIntervalMs}
}

// Validate checks the config.
func (c Config) Validate() error {
	if c.ExpirationMs < 1 || c.SweepIntervalMs < 1 {
		return fmt.Errorf("producers: expiration %d ms and sweep interval %d ms must be positive", c.ExpirationMs, c.SweepIntervalMs)
	}
	return nil
}

// Batch is what the state needs of a record batch header.
type Batch struct {
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	LastOffsetDelta int32
	MaxTimestampMs  int64
	// BaseOffset is the batch's first offset; Check ignores it (the offset
	// is not assigned yet), Update needs it.
	BaseOffset int64
	// Transactional: the batch belongs to the producer's open transaction
	// (the first such batch opens it at BaseOffset).
	Transactional bool
}

// LastSequence is the sequence of the batch's last record: sequences wrap
// from MaxInt32 to 0, as Kafka's do.
func (b Batch) LastSequence() int32 { return addSequence(b.BaseSequence, b.LastOffsetDelta) }

func (b Batch) valid() error {
	if b.ProducerID < 0 || b.ProducerEpoch < 0 || b.BaseSequence < 0 || b.LastOffsetDelta < 0 {
		return fmt.Errorf("%w: producer id %d, epoch %d, base sequence %d, last offset delta %d",
			ErrInvalidBatch, b.ProducerID, b.ProducerEpoch, b.BaseSequence, b.LastOffsetDelta)
	}
	return nil
}

// addSequence adds n >= 0 to a non-negative sequence modulo MaxInt32+1.
func addSequence(seq, n int32) int32 {
	return int32((int64(seq) + int64(n)) % (math.MaxInt32 + 1))
}

// inSequence reports whether next directly follows last.
func inSequence(last, next int32) bool { return addSequence(last, 1) == next }

// BatchMetadata is one retained batch.
type BatchMetadata struct {
	FirstSequence  int32
	LastSequence   int32
	FirstOffset    int64
	LastOffset     int64
	MaxTimestampMs int64
}

// Producer is one producer's state in a partition.
type Producer struct {
	ID              int64
	Epoch           int16
	LastTimestampMs int64
	Batches         []BatchMetadata // oldest first, at most BatchesRetained
	// CoordinatorEpoch is the coordinator epoch of the last transaction
	// marker, -1 if none: markers from older coordinators are fenced.
	CoordinatorEpoch int32
	// CurrentTxnFirstOffset is the first offset of the producer's open
	// transaction in this partition, -1 if none.
	CurrentTxnFirstOffset int64
}

// LastSequence is the last sequence of the newest retained batch, -1 when
// none is retained.
func (p *Producer) LastSequence() int32 {
	if len(p.Batches) == 0 {
		return -1
	}
	return p.lastSequence()
}

func (p *Producer) lastSequence() int32 { return p.Batches[len(p.Batches)-1].LastSequence }

func newProducer(id int64, epoch int16) *Producer {
	return &Producer{ID: id, Epoch: epoch, CoordinatorEpoch: -1, CurrentTxnFirstOffset: -1}
}

func (p *Producer) find(first, last int32) (BatchMetadata, bool) {
	for _, b := range p.Batches {
		if b.FirstSequence == first && b.LastSequence == last {
			return b, true
		}
	}
	return BatchMetadata{}, false
}

// State is one partition's producer state.
type State struct {
	cfg         Config
	producers   map[int64]*Producer
	lastSweepMs int64
}

// New returns an empty State. An invalid config is replaced by defaults
// field by field, so a State always expires producers eventually.
func New(cfg Config) *State {
	if cfg.ExpirationMs < 1 {
		cfg.ExpirationMs = DefaultExpirationMs
	}
	if cfg.SweepIntervalMs < 1 {
		cfg.SweepIntervalMs = DefaultSweepIntervalMs
	}
	return &State{cfg: cfg, producers: map[int64]*Producer{}, lastSweepMs: math.MinInt64}
}

// CheckResult is the outcome of a successful Check.
type CheckResult struct {
	// Duplicate is set when the batch repeats a retained one: do not
	// append, answer with Original's offsets.
	Duplicate bool
	Original  BatchMetadata
}

func (s *State) expired(p *Producer, nowMs int64) bool {
	if p.CurrentTxnFirstOffset >= 0 {
		return false // an open transaction pins its producer, as in Kafka
	}
	if p.LastTimestampMs > nowMs {
		return false // a batch timestamp in the future: not idle at all
	}
	// With last <= now the difference fits in a uint64 even when the
	// int64 subtraction would overflow (a bogus batch timestamp).
	return uint64(nowMs)-uint64(p.LastTimestampMs) >= uint64(s.cfg.ExpirationMs)
}

// lookup returns a producer's live state, forgetting it if it expired.
func (s *State) lookup(id int64, nowMs int64) *Producer {
	p := s.producers[id]
	if p != nil && s.expired(p, nowMs) {
		delete(s.producers, id)
		return nil
	}
	return p
}

// Check validates a batch with a producer id before it is appended. It
// does not change the state except to forget an expired producer.
func (s *State) Check(b Batch, nowMs int64) (CheckResult, error) {
	if err := b.valid(); err != nil {
		return CheckResult{}, err
	}
	p := s.lookup(b.ProducerID, nowMs)
	if p == nil {
		return CheckResult{}, nil
	}
	first, last := b.BaseSequence, b.LastSequence()
	if b.ProducerEpoch == p.Epoch {
		if orig, ok := p.find(first, last); ok {
			return CheckResult{Duplicate: true, Original: orig}, nil
		}
	}
	switch {
	case b.ProducerEpoch < p.Epoch:
		return CheckResult{}, fmt.Errorf("%w: producer %d sent epoch %d, the current epoch is %d",
			ErrInvalidProducerEpoch, b.ProducerID, b.ProducerEpoch, p.Epoch)
	case b.ProducerEpoch > p.Epoch:
		if first != 0 {
			return CheckResult{}, fmt.Errorf("%w: producer %d started epoch %d (was %d) at sequence %d, not 0",
				ErrOutOfOrderSequence, b.ProducerID, b.ProducerEpoch, p.Epoch, first)
		}
	case len(p.Batches) > 0 && !inSequence(p.lastSequence(), first):
		return CheckResult{}, fmt.Errorf("%w: producer %d epoch %d sent sequence %d, expected %d",
			ErrOutOfOrderSequence, b.ProducerID, b.ProducerEpoch, first, addSequence(p.lastSequence(), 1))
	case len(p.Batches) == 0 && first != 0:
		// Known at this epoch (a marker set it) but no batch yet: the
		// epoch's first batch starts at sequence 0.
		return CheckResult{}, fmt.Errorf("%w: producer %d epoch %d has no batches yet, sent sequence %d, not 0",
			ErrOutOfOrderSequence, b.ProducerID, b.ProducerEpoch, first)
	}
	if !b.Transactional && p.CurrentTxnFirstOffset >= 0 {
		return CheckResult{}, fmt.Errorf("%w: producer %d sent a non-transactional batch while its transaction from offset %d is open",
			ErrInvalidTxnState, b.ProducerID, p.CurrentTxnFirstOffset)
	}
	return CheckResult{}, nil
}

// Update records an appended batch (b.BaseOffset set). It does not
// validate, so recovery can replay the log through it; a batch that fails
// the basic shape check (negative fields) is ignored.
func (s *State) Update(b Batch, nowMs int64) {
	if b.valid() != nil {
		return
	}
	s.maybeSweep(nowMs)
	p := s.producers[b.ProducerID]
	if p == nil {
		p = newProducer(b.ProducerID, b.ProducerEpoch)
		s.producers[b.ProducerID] = p
	}
	if b.Transactional && p.CurrentTxnFirstOffset < 0 {
		p.CurrentTxnFirstOffset = b.BaseOffset
	}
	if b.ProducerEpoch != p.Epoch {
		p.Epoch, p.Batches = b.ProducerEpoch, nil
	}
	if len(p.Batches) == BatchesRetained {
		// Shift in place: the slice never grows past BatchesRetained.
		copy(p.Batches, p.Batches[1:])
		p.Batches = p.Batches[:BatchesRetained-1]
	}
	p.Batches = append(p.Batches, BatchMetadata{
		FirstSequence:  b.BaseSequence,
		LastSequence:   b.LastSequence(),
		FirstOffset:    b.BaseOffset,
		LastOffset:     b.BaseOffset + int64(b.LastOffsetDelta),
		MaxTimestampMs: b.MaxTimestampMs,
	})
	p.LastTimestampMs = b.MaxTimestampMs
}

func (s *State) maybeSweep(nowMs int64) {
	if s.lastSweepMs != math.MinInt64 && nowMs-s.lastSweepMs < s.cfg.SweepIntervalMs && nowMs >= s.lastSweepMs {
		return
	}
	s.Expire(nowMs)
}

// Expire forgets every producer idle for ExpirationMs or more.
func (s *State) Expire(nowMs int64) {
	s.lastSweepMs = nowMs
	for id, p := range s.producers {
		if s.expired(p, nowMs) {
			delete(s.producers, id)
		}
	}
}

// Producer returns a copy of one producer's state, expired or not.
func (s *State) Producer(id int64) (Producer, bool) {
	p, ok := s.producers[id]
	if !ok {
		return Producer{}, false
	}
	c := *p
	c.Batches = append([]BatchMetadata(nil), p.Batches...)
	return c, true
}

// Len is the number of producers held (expired ones not yet swept included).
func (s *State) Len() int { return len(s.producers) }
