package producers

import (
	"fmt"
	"sort"
)

// Marker is a transaction marker (a COMMIT or ABORT control batch) the
// coordinator writes for a producer's transaction.
type Marker struct {
	ProducerID       int64
	ProducerEpoch    int16
	CoordinatorEpoch int32
	Commit           bool
	// Offset is the marker's offset; CheckMarker ignores it.
	Offset      int64
	TimestampMs int64
}

// CompletedTxn is a transaction a marker ended in this partition: its data
// spans [FirstOffset, LastOffset), LastOffset being the marker's offset.
type CompletedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
	Aborted     bool
}

// CheckMarker validates a marker before it is appended, as Kafka's
// ProducerAppendInfo does for a coordinator's append: an epoch older than
// the producer's is ErrInvalidProducerEpoch, a coordinator epoch older
// than the last marker's is ErrCoordinatorFenced. A producer the state does
// not know passes (a marker for a transaction with no data here, or state
// lost to expiry).
func (s *State) CheckMarker(m Marker, nowMs int64) error {
	if m.ProducerID < 0 || m.ProducerEpoch < 0 {
		return fmt.Errorf("%w: marker for producer id %d epoch %d", ErrInvalidBatch, m.ProducerID, m.ProducerEpoch)
	}
	p := s.lookup(m.ProducerID, nowMs)
	if p == nil {
		return nil
	}
	if m.ProducerEpoch < p.Epoch {
		return fmt.Errorf("%w: marker for producer %d has epoch %d, the current epoch is %d",
			ErrInvalidProducerEpoch, m.ProducerID, m.ProducerEpoch, p.Epoch)
	}
	if m.CoordinatorEpoch < p.CoordinatorEpoch {
		return fmt.Errorf("%w: marker for producer %d from coordinator epoch %d, last was %d",
			ErrCoordinatorFenced, m.ProducerID, m.CoordinatorEpoch, p.CoordinatorEpoch)
	}
	return nil
}

// ApplyMarker records an appended marker without validating it (log
// replay and followers apply what the leader wrote). The producer's open
// transaction, if any, ends and is returned; a marker for a producer with
// no open transaction here returns ok false. A higher epoch replaces the
// producer's epoch and forgets its batches, so its next batch must start
// at sequence 0.
func (s *State) ApplyMarker(m Marker, nowMs int64) (txn CompletedTxn, ok bool) {
	if m.ProducerID < 0 || m.ProducerEpoch < 0 {
		return CompletedTxn{}, false
	}
	s.maybeSweep(nowMs)
	p := s.producers[m.ProducerID]
	if p == nil {
		p = newProducer(m.ProducerID, m.ProducerEpoch)
		s.producers[m.ProducerID] = p
	}
	if p.CurrentTxnFirstOffset >= 0 {
		txn, ok = CompletedTxn{ProducerID: p.ID, FirstOffset: p.CurrentTxnFirstOffset, LastOffset: m.Offset, Aborted: !m.Commit}, true
	}
	if m.ProducerEpoch != p.Epoch {
		p.Epoch, p.Batches = m.ProducerEpoch, nil
	}
	p.CurrentTxnFirstOffset = -1
	p.CoordinatorEpoch = m.CoordinatorEpoch
	p.LastTimestampMs = m.TimestampMs
	return txn, ok
}

// Producers returns copies of every producer not expired at nowMs, in id
// order (DescribeProducers).
func (s *State) Producers(nowMs int64) []Producer {
	out := make([]Producer, 0, len(s.producers))
	for _, p := range s.producers {
		if s.expired(p, nowMs) {
			continue
		}
		c := *p
		c.Batches = append([]BatchMetadata(nil), p.Batches...)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// OpenTxn reports the producer's transaction open in this partition: its
// epoch and first offset. A transaction version 2 producer's next
// transaction runs at a higher epoch, so a batch at another epoch than the
// open transaction's does not belong to it (Kafka's hasOngoingTransaction
// compares the epoch for the same reason).
func (s *State) OpenTxn(producerID int64, nowMs int64) (epoch int16, first int64, ok bool) {
	p := s.lookup(producerID, nowMs)
	if p == nil || p.CurrentTxnFirstOffset < 0 {
		return 0, -1, false
	}
	return p.Epoch, p.CurrentTxnFirstOffset, true
}
