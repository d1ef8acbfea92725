package records

import "encoding/binary"

// attrDeleteHorizon is attribute bit 6 (KIP-534): the batch's first
// timestamp field holds its delete horizon, the time after which the log
// cleaner may drop its tombstones or, for a control batch, the marker.
// Record timestamp deltas stay relative to that field, so record
// timestamps do not change when the cleaner sets it.
const attrDeleteHorizon = 0x40

// HasDeleteHorizon reports the delete-horizon attribute bit.
func (h Header) HasDeleteHorizon() bool { return h.Attributes&attrDeleteHorizon != 0 }

// DeleteHorizonMs is the batch's delete horizon in unix milliseconds and
// whether it has one (Kafka's RecordBatch.deleteHorizonMs).
func (h Header) DeleteHorizonMs() (int64, bool) {
	if !h.HasDeleteHorizon() {
		return 0, false
	}
	return h.FirstTimestamp, true
}

// SetDeleteHorizon marks the whole batch at the start of b as carrying a
// delete horizon and recomputes its CRC. The caller built the batch with
// the horizon as its first timestamp (and record timestamp deltas relative
// to it); this only sets the attribute bit. A short or truncated b is
// ErrCorrupt and is left unchanged.
func SetDeleteHorizon(b []byte) error {
	h, err := ReadHeader(b)
	if err != nil {
		return err
	}
	if h.Size() > len(b) {
		return ErrCorrupt
	}
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(h.Attributes)|attrDeleteHorizon)
	UpdateCRC(b)
	return nil
}
