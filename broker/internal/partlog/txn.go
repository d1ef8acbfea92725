package partlog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/highwater-io/highwater/broker/internal/records"
)

// ErrNotMarker: a control batch that is not a transaction marker (Kafka
// has other control types, such as KRaft's leader change records).
var ErrNotMarker = errors.New("partlog: not a transaction marker")

// Control record types of transaction markers (Kafka's ControlRecordType).
const (
	controlAbort  int16 = 0
	controlCommit int16 = 1
)

// Marker is a decoded transaction marker: a control batch with one record
// whose key is (version int16, type int16) and value (version int16,
// coordinator epoch int32).
type Marker struct {
	ProducerID       int64
	ProducerEpoch    int16
	CoordinatorEpoch int32
	Commit           bool
	Offset           int64 // the batch's base offset
	TimestampMs      int64
}

// ParseMarker decodes the transaction marker in a control batch. It
// returns ErrNotMarker for control batches of other types and
// records.ErrCorrupt (wrapped) for damaged ones.
func ParseMarker(batch []byte) (Marker, error) {
	if h, err := records.ReadHeader(batch); err == nil && !h.Control() {
		return Marker{}, fmt.Errorf("%w: not a control batch", ErrNotMarker)
	}
	h, recs, err := records.Decode(batch)
	if err != nil {
		return Marker{}, fmt.Errorf("partlog: marker: %w", err)
	}
	if len(recs) == 0 {
		return Marker{}, fmt.Errorf("%w: control batch without records", ErrNotMarker)
	}
	key, value := recs[0].Key, recs[0].Value
	if len(key) < 4 {
		return Marker{}, fmt.Errorf("partlog: marker key of %d bytes: %w", len(key), records.ErrCorrupt)
	}
	typ := int16(binary.BigEndian.Uint16(key[2:]))
	if typ != controlAbort && typ != controlCommit {
		return Marker{}, fmt.Errorf("%w: control type %d", ErrNotMarker, typ)
	}
	m := Marker{ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, CoordinatorEpoch: -1,
		Commit: typ == controlCommit, Offset: h.BaseOffset, TimestampMs: h.MaxTimestamp}
	if len(value) >= 6 {
		m.CoordinatorEpoch = int32(binary.BigEndian.Uint32(value[2:]))
	}
	return m, nil
}

// BuildMarker encodes a COMMIT or ABORT marker for a producer as Kafka's
// coordinator has partition leaders write it: a transactional control
// batch of one record, no sequence, at base offset 0 (Append assigns it).
func BuildMarker(producerID int64, producerEpoch int16, coordinatorEpoch int32, commit bool, timestampMs int64) ([]byte, error) {
	typ := controlAbort
	if commit {
		typ = controlCommit
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), uint16(typ))
	value := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), uint32(coordinatorEpoch))
	opts := records.DefaultBuildOptions()
	opts.ProducerID, opts.ProducerEpoch = producerID, producerEpoch
	opts.Transactional, opts.Control = true, true
	opts.FirstTimestamp, opts.MaxTimestamp = timestampMs, timestampMs
	return records.Build(opts, records.CodecNone, []records.Record{{Key: key, Value: value}})
}

// AbortedTxn is one entry of a segment's aborted transaction index (Kafka's
// .txnindex): the producer's aborted data lies in [FirstOffset,
// LastOffset), LastOffset being the ABORT marker's offset, and
// LastStableOffset is the log's last stable offset once it completed.
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

// txnTracker follows the open transactions of a log from its batches:
// a transactional data batch opens its producer's transaction if none is
// open, a marker closes it. It is pure; the Log feeds it on every append
// and replays the log through it on open and truncation.
type txnTracker struct {
	open map[int64]int64 // producer id -> first offset of its open transaction
}

func newTxnTracker() txnTracker { return txnTracker{open: map[int64]int64{}} }

// data records a transactional data batch.
func (t *txnTracker) data(producerID, baseOffset int64) {
	if _, ok := t.open[producerID]; !ok {
		t.open[producerID] = baseOffset
	}
}

// marker records a marker; for an ABORT that ends an open transaction it
// returns the index entry.
func (t *txnTracker) marker(m Marker) (AbortedTxn, bool) {
	first, ok := t.open[m.ProducerID]
	if !ok {
		return AbortedTxn{}, false // no data of this transaction here
	}
	delete(t.open, m.ProducerID)
	if m.Commit {
		return AbortedTxn{}, false
	}
	return AbortedTxn{ProducerID: m.ProducerID, FirstOffset: first, LastOffset: m.Offset,
		LastStableOffset: t.firstUnstable(m.Offset + 1)}, true
}

// firstUnstable is the first offset of the oldest open transaction, or
// end when none is open.
func (t *txnTracker) firstUnstable(end int64) int64 {
	for _, first := range t.open {
		end = min(end, first)
	}
	return end
}

// txnIndexEntryBytes is one .txnindex entry: version int16 (0), producer
// id, first offset, last offset, last stable offset (int64s, big endian).
const txnIndexEntryBytes = 2 + 8 + 8 + 8 + 8

func encodeAborted(es []AbortedTxn) []byte {
	be := binary.BigEndian
	b := make([]byte, 0, len(es)*txnIndexEntryBytes)
	for _, e := range es {
		b = be.AppendUint16(b, 0)
		b = be.AppendUint64(b, uint64(e.ProducerID))
		b = be.AppendUint64(b, uint64(e.FirstOffset))
		b = be.AppendUint64(b, uint64(e.LastOffset))
		b = be.AppendUint64(b, uint64(e.LastStableOffset))
	}
	return b
}

// decodeAborted parses a .txnindex; ok is false for anything malformed.
func decodeAborted(b []byte) ([]AbortedTxn, bool) {
	if len(b)%txnIndexEntryBytes != 0 {
		return nil, false
	}
	be := binary.BigEndian
	var es []AbortedTxn
	for i := 0; i < len(b); i += txnIndexEntryBytes {
		if be.Uint16(b[i:]) != 0 {
			return nil, false
		}
		e := AbortedTxn{
			ProducerID:       int64(be.Uint64(b[i+2:])),
			FirstOffset:      int64(be.Uint64(b[i+10:])),
			LastOffset:       int64(be.Uint64(b[i+18:])),
			LastStableOffset: int64(be.Uint64(b[i+26:])),
		}
		if e.ProducerID < 0 || e.FirstOffset < 0 || e.LastOffset < e.FirstOffset || e.LastStableOffset < 0 {
			return nil, false
		}
		es = append(es, e)
	}
	return es, true
}
