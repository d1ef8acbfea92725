package txn

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrInvalidConfig is wrapped by NewCoordinator for a bad Config.
var ErrInvalidConfig = errors.New("txn: invalid config")

// Config configures a Coordinator.
type Config struct {
	// MaxTimeout is transaction.max.timeout.ms: InitProducerId asking
	// for more (or for <= 0) gets INVALID_TRANSACTION_TIMEOUT.
	MaxTimeout time.Duration
	// IDExpiration is transactional.id.expiration.ms: an id idle this
	// long with no open transaction is deleted (tombstoned).
	IDExpiration time.Duration
	// NextProducerID hands out producer ids never used before.
	NextProducerID func() (int64, error)
	// TransactionVersion is the broker's finalized transaction.version
	// (0 is taken as 1). At 2 a timed-out transaction is aborted the
	// transaction version 2 way (the epoch bumped twice: fenced, then
	// aborted), as Kafka aborts with the server's level.
	TransactionVersion int16
}

// Validate checks cfg.
func (cfg Config) Validate() error {
	switch {
	case cfg.MaxTimeout <= 0:
		return fmt.Errorf("%w: MaxTimeout %v", ErrInvalidConfig, cfg.MaxTimeout)
	case cfg.IDExpiration <= 0:
		return fmt.Errorf("%w: IDExpiration %v", ErrInvalidConfig, cfg.IDExpiration)
	case cfg.NextProducerID == nil:
		return fmt.Errorf("%w: no NextProducerID", ErrInvalidConfig)
	}
	return nil
}

// Coordinator is the pure transaction state machine for a set of
// transactional ids; see the package doc.
type Coordinator struct {
	cfg  Config
	txns map[string]*Metadata
}

// NewCoordinator returns an empty Coordinator.
func NewCoordinator(cfg Config) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Coordinator{cfg: cfg, txns: map[string]*Metadata{}}, nil
}

// Decision is a Coordinator's answer to one input. Err is the Kafka error
// the request gets (nil: success). Next, when non-nil, is the state to
// persist (Next.Record()) and then Apply; the reply (Err, ProducerID,
// ProducerEpoch) holds only once that is durable. A Next in PrepareCommit
// or PrepareAbort must be followed by markers to its partitions.
type Decision struct {
	Err           error
	ProducerID    int64
	ProducerEpoch int16
	Next          *Metadata
}

func fail(err error) Decision { return Decision{Err: err, ProducerID: -1, ProducerEpoch: -1} }

// Get returns a copy of id's state.
func (c *Coordinator) Get(id string) (Metadata, bool) {
	m, ok := c.txns[id]
	if !ok {
		return Metadata{}, false
	}
	return m.Clone(), true
}

// IDs lists the transactional ids known, sorted.
func (c *Coordinator) IDs() []string {
	ids := make([]string, 0, len(c.txns))
	for id := range c.txns {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Apply installs a persisted state (a Decision's Next, or a replayed
// record). Dead removes the id.
func (c *Coordinator) Apply(m Metadata) {
	if m.State == Dead {
		delete(c.txns, m.TransactionalID)
		return
	}
	m = m.Clone()
	c.txns[m.TransactionalID] = &m
}

// Load replays __transaction_state records in log order.
func (c *Coordinator) Load(records []KV) error {
	for _, r := range records {
		m, err := DecodeRecord(r)
		if err != nil {
			return err
		}
		c.Apply(m)
	}
	return nil
}

// Pending lists the transactions whose markers are owed: every
// PrepareCommit and PrepareAbort (after Load, the ones the previous
// coordinator did not finish).
func (c *Coordinator) Pending() []Metadata {
	var out []Metadata
	for _, id := range c.IDs() {
		if m := c.txns[id]; m.State == PrepareCommit || m.State == PrepareAbort {
			out = append(out, m.Clone())
		}
	}
	return out
}

// transit returns m moved to state at now; Kafka's prepareTransitionTo
// without the pending-state bookkeeping (the Service serialises).
func transit(m Metadata, state State, now time.Time) Metadata {
	n := m.Clone()
	n.State, n.LastUpdateMs = state, now.UnixMilli()
	return n
}

// ProducerIDAndEpoch is what a KIP-360 InitProducerId (v3+) says the
// producer currently holds.
type ProducerIDAndEpoch struct {
	ProducerID int64
	Epoch      int16
}

// InitProducerID handles InitProducerId for a transactional id. expected
// is nil for v0-2 requests or v3+ ones carrying -1/-1.
func (c *Coordinator) InitProducerID(now time.Time, id string, timeoutMs int32, expected *ProducerIDAndEpoch) Decision {
	switch {
	case id == "":
		return fail(kerr.InvalidRequest)
	case timeoutMs <= 0 || time.Duration(timeoutMs)*time.Millisecond > c.cfg.MaxTimeout:
		return fail(kerr.InvalidTransactionTimeout)
	}
	cur, ok := c.txns[id]
	if !ok {
		pid, err := c.cfg.NextProducerID()
		if err != nil {
			return fail(fmt.Errorf("%w: producer id: %v", kerr.CoordinatorNotAvailable, err))
		}
		cur = &Metadata{TransactionalID: id, ProducerID: pid, PrevProducerID: -1, NextProducerID: -1, ProducerEpoch: noEpoch,
			LastProducerEpoch: noEpoch, TimeoutMs: timeoutMs, State: Empty, StartMs: -1, LastUpdateMs: now.UnixMilli()}
	}
	m := cur.Clone()
	if expected != nil && !validProducerID(m, *expected) {
		return fail(kerr.ProducerFenced)
	}
	switch m.State {
	case PrepareCommit, PrepareAbort:
		return fail(kerr.ConcurrentTransactions)
	case Ongoing:
		// Fence the current producer and abort its transaction; the
		// caller answers CONCURRENT_TRANSACTIONS so the client retries
		// and gets a second bump once the abort completed.
		next := c.fence(m, now, m.tv2())
		return Decision{Err: kerr.ConcurrentTransactions, ProducerID: -1, ProducerEpoch: -1, Next: &next}
	case Empty, CompleteCommit, CompleteAbort:
	default:
		return fail(fmt.Errorf("%w: %q in state %v", kerr.UnknownServerError, id, m.State))
	}
	var next Metadata
	if epochExhausted(m.ProducerEpoch) && (expected == nil || expected.Epoch == m.ProducerEpoch) {
		pid, err := c.cfg.NextProducerID()
		if err != nil {
			return fail(fmt.Errorf("%w: producer id: %v", kerr.CoordinatorNotAvailable, err))
		}
		next = transit(m, Empty, now)
		next.PrevProducerID, next.ProducerID, next.ProducerEpoch = m.ProducerID, pid, 0
		next.LastProducerEpoch = noEpoch
		if expected != nil {
			next.LastProducerEpoch = m.ProducerEpoch
		}
	} else {
		epoch, last, err := bumpEpoch(m, expected)
		if err != nil {
			return fail(err)
		}
		next = transit(m, Empty, now)
		next.ProducerEpoch, next.LastProducerEpoch = epoch, last
	}
	next.TimeoutMs, next.StartMs = timeoutMs, -1
	clear(next.Partitions)
	return Decision{ProducerID: next.ProducerID, ProducerEpoch: next.ProducerEpoch, Next: &next}
}

// validProducerID is Kafka's check of a KIP-360 request's id: a freshly
// created entry, the current id, or the previous one when its epoch was
// exhausted (a retry of a rotation whose answer was lost).
func validProducerID(m Metadata, e ProducerIDAndEpoch) bool {
	return m.ProducerEpoch == noEpoch || e.ProducerID == m.ProducerID ||
		(e.ProducerID == m.PrevProducerID && epochExhausted(e.Epoch))
}

// bumpEpoch is Kafka's prepareIncrementProducerEpoch: the new epoch and
// the one to remember as last.
func bumpEpoch(m Metadata, expected *ProducerIDAndEpoch) (epoch, last int16, err error) {
	bumped := m.ProducerEpoch + 1
	switch {
	case expected == nil:
		return bumped, noEpoch, nil
	case m.ProducerEpoch == noEpoch || expected.Epoch == m.ProducerEpoch:
		return bumped, m.ProducerEpoch, nil
	case expected.Epoch == m.LastProducerEpoch:
		// A retry whose answer was lost: hand back the current epoch.
		return m.ProducerEpoch, m.LastProducerEpoch, nil
	}
	return 0, 0, kerr.ProducerFenced
}

// fence is Kafka's prepareFenceProducerEpoch followed by the abort it
// leads to: the epoch goes up by one (so the producer holding the old one
// is fenced) and the open transaction moves to PrepareAbort. At the last
// epoch it cannot go up; the abort still happens. Under transaction
// version 2 the abort bumps once more, as every end of a transaction does
// there: the fenced producer's EndTxn retry (epoch + 1 would look like a
// retry of its own end) is then PRODUCER_FENCED, not a success.
func (c *Coordinator) fence(m Metadata, now time.Time, tv2 bool) Metadata {
	next := transit(m, PrepareAbort, now)
	if m.ProducerEpoch < math.MaxInt16 {
		next.ProducerEpoch = m.ProducerEpoch + 1
	}
	next.LastProducerEpoch = noEpoch
	if tv2 {
		next.ClientTxnVersion = max(next.ClientTxnVersion, TV2)
		next.LastProducerEpoch = next.ProducerEpoch
		if next.ProducerEpoch < math.MaxInt16 {
			next.ProducerEpoch++
		}
	}
	return next
}

// checkProducer is the id/epoch test every in-transaction request makes.
func (c *Coordinator) checkProducer(id string, pid int64, epoch int16) (Metadata, error) {
	if id == "" {
		return Metadata{}, kerr.InvalidRequest
	}
	cur, ok := c.txns[id]
	switch {
	case !ok || cur.ProducerID != pid:
		return Metadata{}, kerr.InvalidProducerIDMapping
	case cur.ProducerEpoch != epoch:
		return Metadata{}, kerr.ProducerFenced
	}
	return cur.Clone(), nil
}

// AddPartitions handles AddPartitionsToTxn (and AddOffsetsToTxn, whose
// partition is the group's __consumer_offsets partition).
func (c *Coordinator) AddPartitions(now time.Time, id string, pid int64, epoch int16, parts []TopicPartition) Decision {
	return c.AddPartitionsTV(now, id, pid, epoch, parts, 0)
}

// AddPartitionsTV is AddPartitions recording the client's transaction
// version: TV2 when the partition leader adds the partition for a
// Produce v12+ batch (or the group coordinator for TxnOffsetCommit v5+),
// so the transaction is later ended the KIP-890 part 2 way. A lower
// version never downgrades an open transaction.
func (c *Coordinator) AddPartitionsTV(now time.Time, id string, pid int64, epoch int16, parts []TopicPartition, tv int16) Decision {
	m, err := c.checkProducer(id, pid, epoch)
	if err != nil {
		return fail(err)
	}
	ok := Decision{ProducerID: pid, ProducerEpoch: epoch}
	switch m.State {
	case PrepareCommit, PrepareAbort:
		return fail(kerr.ConcurrentTransactions)
	case Ongoing:
		if subset(parts, m.Partitions) && tv <= m.ClientTxnVersion {
			return ok
		}
		tv = max(tv, m.ClientTxnVersion)
	case Empty, CompleteCommit, CompleteAbort:
		m.StartMs = now.UnixMilli()
		clear(m.Partitions)
	default:
		return fail(fmt.Errorf("%w: %q in state %v", kerr.UnknownServerError, id, m.State))
	}
	next := transit(m, Ongoing, now)
	next.ClientTxnVersion = tv
	for _, tp := range parts {
		next.Partitions[tp] = struct{}{}
	}
	ok.Next = &next
	return ok
}

func subset(parts []TopicPartition, of map[TopicPartition]struct{}) bool {
	for _, tp := range parts {
		if _, ok := of[tp]; !ok {
			return false
		}
	}
	return true
}

// VerifyPartitions is AddPartitionsToTxn v4's verifyOnly (KIP-890 part 1):
// which of parts the producer's open transaction already holds. It changes
// nothing. As Kafka's coordinator answers it: the whole request fails with
// the producer check's error, or CONCURRENT_TRANSACTIONS while the
// previous transaction's markers are written (PrepareCommit/PrepareAbort);
// otherwise each partition outside the open transaction gets
// TRANSACTION_ABORTABLE (the partition leader turns it into
// INVALID_TXN_STATE for producers too old to know it).
func (c *Coordinator) VerifyPartitions(id string, pid int64, epoch int16, parts []TopicPartition) (map[TopicPartition]error, error) {
	m, err := c.checkProducer(id, pid, epoch)
	if err != nil {
		return nil, err
	}
	if m.State == PrepareCommit || m.State == PrepareAbort {
		return nil, kerr.ConcurrentTransactions
	}
	out := make(map[TopicPartition]error, len(parts))
	for _, tp := range parts {
		_, in := m.Partitions[tp]
		if m.State == Ongoing && in {
			out[tp] = nil
		} else {
			out[tp] = kerr.TransactionAbortable
		}
	}
	return out, nil
}

// EndTxn handles EndTxn from the client: commit or abort the open
// transaction. A retry of a completed one succeeds; a retry of one whose
// markers are still being written gets CONCURRENT_TRANSACTIONS.
func (c *Coordinator) EndTxn(now time.Time, id string, pid int64, epoch int16, commit bool) Decision {
	m, err := c.checkProducer(id, pid, epoch)
	if err != nil {
		return fail(err)
	}
	ok := Decision{ProducerID: pid, ProducerEpoch: epoch}
	switch {
	case m.State == Ongoing:
		next := transit(m, PrepareAbort, now)
		if commit {
			next.State = PrepareCommit
		}
		ok.Next = &next
		return ok
	case m.State == CompleteCommit && commit, m.State == CompleteAbort && !commit:
		return ok
	case m.State == PrepareCommit && commit, m.State == PrepareAbort && !commit:
		return fail(kerr.ConcurrentTransactions)
	}
	return fail(fmt.Errorf("%w: EndTxn(commit=%v) in state %v", kerr.InvalidTxnState, commit, m.State))
}

// MarkersWritten moves a transaction whose markers every partition
// acknowledged to CompleteCommit/CompleteAbort. The producer id and epoch
// say which prepare the markers were for; a mismatch (the state moved on
// meanwhile) decides nothing.
func (c *Coordinator) MarkersWritten(now time.Time, id string, pid int64, epoch int16) Decision {
	cur, ok := c.txns[id]
	if !ok || cur.ProducerID != pid || cur.ProducerEpoch != epoch ||
		(cur.State != PrepareCommit && cur.State != PrepareAbort) {
		return fail(kerr.InvalidTxnState)
	}
	next := transit(cur.Clone(), CompleteAbort, now)
	if cur.State == PrepareCommit {
		next.State = CompleteCommit
	}
	clear(next.Partitions)
	if cur.tv2() && cur.NextProducerID >= 0 {
		// The epoch bump overflowed: the producer continues under the
		// id handed out with the prepare, at epoch 0.
		next.PrevProducerID, next.ProducerID, next.ProducerEpoch = cur.ProducerID, cur.NextProducerID, 0
	}
	next.NextProducerID = -1
	return Decision{ProducerID: pid, ProducerEpoch: epoch, Next: &next}
}

// TimedOut lists the open transactions older than their timeout at now:
// each is to be aborted with AbortTimedOut.
func (c *Coordinator) TimedOut(now time.Time) []string {
	var out []string
	for _, id := range c.IDs() {
		m := c.txns[id]
		if m.State == Ongoing && m.StartMs >= 0 && now.UnixMilli() > m.StartMs+int64(m.TimeoutMs) {
			out = append(out, id)
		}
	}
	return out
}

// AbortTimedOut fences the producer of a timed-out transaction (epoch + 1)
// and moves it to PrepareAbort, as Kafka's abortTimedOutTransactions.
func (c *Coordinator) AbortTimedOut(now time.Time, id string) Decision {
	cur, ok := c.txns[id]
	if !ok || cur.State != Ongoing {
		return fail(kerr.InvalidTxnState)
	}
	next := c.fence(cur.Clone(), now, cur.tv2() || c.cfg.TransactionVersion >= TV2)
	return Decision{ProducerID: next.ProducerID, ProducerEpoch: next.ProducerEpoch, Next: &next}
}

// Expired lists the ids idle for IDExpiration with no open transaction:
// each is to be deleted with Expire.
func (c *Coordinator) Expired(now time.Time) []string {
	var out []string
	for _, id := range c.IDs() {
		m := c.txns[id]
		idle := slices.Contains([]State{Empty, CompleteCommit, CompleteAbort}, m.State)
		if idle && now.UnixMilli() >= m.LastUpdateMs+c.cfg.IDExpiration.Milliseconds() {
			out = append(out, id)
		}
	}
	return out
}

// Expire decides the tombstone of an expired id.
func (c *Coordinator) Expire(now time.Time, id string) Decision {
	cur, ok := c.txns[id]
	if !ok || !slices.Contains([]State{Empty, CompleteCommit, CompleteAbort}, cur.State) ||
		now.UnixMilli() < cur.LastUpdateMs+c.cfg.IDExpiration.Milliseconds() {
		return fail(kerr.InvalidTxnState)
	}
	next := transit(cur.Clone(), Dead, now)
	return Decision{ProducerID: next.ProducerID, ProducerEpoch: next.ProducerEpoch, Next: &next}
}
