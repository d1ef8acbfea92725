package txn

// Transaction version 2 (KIP-890 part 2): EndTxn v5+ bumps the producer
// epoch on every commit and abort, so each transaction runs at its own
// epoch and a late write of the previous one is fenced by the epoch alone.

import (
	"fmt"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// EndTxnTV2 handles EndTxn v5+: the commit or abort is prepared at epoch +
// 1 (the markers carry it) and the reply hands the producer that epoch,
// or, when the bump reaches the last epoch, a new producer id at epoch 0
// (taken over once the markers are written). As in Kafka's coordinator:
//
//   - a retry (the request's epoch is the one before the current, or the
//     last epoch of the previous producer id after an overflow) of a
//     completed end with the same outcome succeeds with the current id
//     and epoch; of one whose markers are still being written it gets
//     CONCURRENT_TRANSACTIONS;
//   - an abort with no open transaction (Empty, or the previous one
//     complete) is allowed and bumps the epoch; such a commit is
//     INVALID_TXN_STATE;
//   - any other epoch is PRODUCER_FENCED, another producer id
//     INVALID_PRODUCER_ID_MAPPING.
func (c *Coordinator) EndTxnTV2(now time.Time, id string, pid int64, epoch int16, commit bool) Decision {
	if id == "" {
		return fail(kerr.InvalidRequest)
	}
	cur, ok := c.txns[id]
	if !ok {
		return fail(kerr.InvalidProducerIDMapping)
	}
	m := cur.Clone()
	retryOnOverflow := m.PrevProducerID == pid && epoch == math.MaxInt16-1 && m.ProducerEpoch == 0
	retryOnBump := epoch < math.MaxInt16 && m.ProducerEpoch == epoch+1
	var validEpoch bool
	switch m.State {
	case PrepareCommit, PrepareAbort:
		validEpoch = retryOnBump
	case CompleteCommit, CompleteAbort:
		validEpoch = retryOnBump || retryOnOverflow || epoch == m.ProducerEpoch
	default:
		validEpoch = epoch == m.ProducerEpoch
	}
	switch {
	case m.ProducerID != pid && !retryOnOverflow:
		return fail(kerr.InvalidProducerIDMapping)
	case !validEpoch:
		return fail(kerr.ProducerFenced)
	}
	retry := retryOnBump || retryOnOverflow
	current := Decision{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch}
	invalid := fail(fmt.Errorf("%w: EndTxn(commit=%v) in state %v", kerr.InvalidTxnState, commit, m.State))
	switch m.State {
	case Ongoing:
		return c.prepareEnd(m, commit, false, now)
	case CompleteCommit:
		switch {
		case commit && retry:
			return current
		case !commit && !retry:
			return c.prepareEnd(m, false, true, now)
		}
		return invalid
	case CompleteAbort:
		switch {
		case !commit && retry:
			return current
		case !commit:
			return c.prepareEnd(m, false, true, now)
		}
		return invalid
	case PrepareCommit:
		if commit {
			return fail(kerr.ConcurrentTransactions)
		}
		return invalid
	case PrepareAbort:
		if !commit {
			return fail(kerr.ConcurrentTransactions)
		}
		return invalid
	case Empty:
		if !commit {
			return c.prepareEnd(m, false, true, now)
		}
		return invalid
	}
	return fail(fmt.Errorf("%w: %q in state %v", kerr.UnknownServerError, id, m.State))
}

// prepareEnd is Kafka's prepareAbortOrCommit under transaction version 2:
// PrepareCommit/PrepareAbort at epoch + 1, remembering the epoch before.
// An epoch that is exhausted gets a new producer id, handed to the
// producer now and taken over when the markers are written. empty is an
// abort with no open transaction: it starts now and holds no partitions.
func (c *Coordinator) prepareEnd(m Metadata, commit, empty bool, now time.Time) Decision {
	nextPID := int64(-1)
	if epochExhausted(m.ProducerEpoch) {
		pid, err := c.cfg.NextProducerID()
		if err != nil {
			return fail(fmt.Errorf("%w: producer id: %v", kerr.CoordinatorNotAvailable, err))
		}
		nextPID = pid
	}
	state := PrepareAbort
	if commit {
		state = PrepareCommit
	}
	next := transit(m, state, now)
	next.LastProducerEpoch = m.ProducerEpoch
	if m.ProducerEpoch < math.MaxInt16 {
		next.ProducerEpoch = m.ProducerEpoch + 1
	} // else: a broken state (Kafka logs it); the abort still goes through
	next.NextProducerID, next.ClientTxnVersion = nextPID, TV2
	if empty {
		next.StartMs = now.UnixMilli()
		clear(next.Partitions)
	}
	d := Decision{ProducerID: next.ProducerID, ProducerEpoch: next.ProducerEpoch, Next: &next}
	if nextPID >= 0 {
		d.ProducerID, d.ProducerEpoch = nextPID, 0
	}
	return d
}
