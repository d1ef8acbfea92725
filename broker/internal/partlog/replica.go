package partlog

import (
	"fmt"

	"github.com/highwater-io/highwater/broker/internal/records"
)

// AppendReplica appends one batch as a follower copies it from its leader
// (Kafka's appendAsFollower): the batch keeps its base offset and leader
// epoch, which must start at or after the log end offset (ErrOffsetOutOfRange
// otherwise: the follower's state machine truncates before appending, so an
// overlap means the driver is wrong, not the leader). A gap is allowed, as
// Kafka allows it: the leader's compaction may have removed whole batches.
func (l *Log) AppendReplica(batch []byte) (AppendResult, error) {
	h, err := records.ReadHeader(batch)
	if err != nil {
		return AppendResult{}, fmt.Errorf("partlog: append replica: %w", err)
	}
	if h.Size() != len(batch) {
		return AppendResult{}, fmt.Errorf("partlog: append replica: batch says %d bytes, got %d: %w", h.Size(), len(batch), records.ErrCorrupt)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return AppendResult{}, err
	}
	if h.BaseOffset < l.endOffset {
		return AppendResult{}, fmt.Errorf("%w: replica batch at %d, log ends at %d", ErrOffsetOutOfRange, h.BaseOffset, l.endOffset)
	}
	now := l.now()
	if l.shouldRoll(h, h.BaseOffset, now) {
		if err := l.roll(now); err != nil {
			return AppendResult{}, l.fail(err)
		}
	}
	return l.writeLocked(batch, h, now)
}

// TruncateFullyAndStartAt empties the log and restarts it at offset (a
// follower whose leader's log start passed its log end).
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: truncate to %d", ErrOffsetOutOfRange, offset)
	}
	return l.truncateFullyAndStartAt(offset)
}
