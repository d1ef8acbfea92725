package partlog

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/highwater-io/highwater/internal/vfs"
)

// checkpointName is the file holding the log start offset. Its content is
// "0\n<offset>\n": a format version, then the offset.
const checkpointName = "log-start-offset-checkpoint"

func (l *Log) readCheckpoint() (int64, error) {
	b, err := vfs.ReadFile(l.fs, filepath.Join(l.dir, checkpointName))
	if vfs.IsNotExist(err) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 || lines[0] != "0" {
		return 0, fmt.Errorf("%w: %q", ErrCorruptCheckpoint, b)
	}
	off, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || off < 0 {
		return 0, fmt.Errorf("%w: %q", ErrCorruptCheckpoint, b)
	}
	return off, nil
}

func (l *Log) writeCheckpoint(offset int64) error {
	data := []byte("0\n" + strconv.FormatInt(offset, 10) + "\n")
	return vfs.WriteFileAtomic(l.fs, filepath.Join(l.dir, checkpointName), data, 0o644)
}

// raiseStartOffset persists a higher log start offset; it must be durable
// before any segment below it is deleted, or a crash could resurrect
// records below a start offset already reported to clients.
func (l *Log) raiseStartOffset(offset int64) error {
	if offset <= l.startOffset {
		return nil
	}
	if err := l.writeCheckpoint(offset); err != nil {
		return l.fail(err)
	}
	l.startOffset = offset
	return nil
}

// DeleteRecordsBefore raises the log start offset to offset (DeleteRecords)
// and deletes the segments wholly below it. The active segment stays even
// if all of it is below, as in Kafka.
func (l *Log) DeleteRecordsBefore(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if offset > l.endOffset || offset < 0 {
		return fmt.Errorf("%w: %d above log end offset %d", ErrOffsetOutOfRange, offset, l.endOffset)
	}
	if offset <= l.startOffset {
		return nil
	}
	// Flush first so that the durable start offset never lies beyond the
	// durable data.
	if err := l.flushLocked(); err != nil {
		return err
	}
	if err := l.raiseStartOffset(offset); err != nil {
		return err
	}
	_, err := l.deletePrefix(l.countBelowStart())
	return err
}

// countBelowStart counts the leading segments whose successor starts at or
// below the log start offset.
func (l *Log) countBelowStart() int {
	n := 0
	for n+1 < len(l.segs) && l.segs[n+1].base <= l.startOffset {
		n++
	}
	return n
}

// EnforceRetention deletes segments by time, then by size, then those below
// the log start offset, following Kafka: only a prefix of segments goes; a
// segment is deletable by time when its largest timestamp is more than
// RetentionTime before now; by size while the log without it stays at or
// above RetentionBytes. The active segment may go too unless it is empty;
// when every segment goes, a new empty one is rolled first. The log start
// offset rises to the first remaining segment.
//
// Kafka also refuses to delete at or above the high watermark; a single
// node's high watermark is the log end offset, so that bound is implicit.
func (l *Log) EnforceRetention() (deletedSegments int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return 0, err
	}
	if l.cfg.Delete && l.cfg.RetentionTime >= 0 {
		nowMs, limitMs := l.now().UnixMilli(), l.cfg.RetentionTime.Milliseconds()
		n := l.countDeletable(func(s *segment) bool { return nowMs-s.largestTimestamp() > limitMs })
		d, err := l.deletePrefix(n)
		deletedSegments += d
		if err != nil {
			return deletedSegments, err
		}
	}
	if l.cfg.Delete && l.cfg.RetentionBytes >= 0 {
		var total int64
		for _, s := range l.segs {
			total += s.size
		}
		diff := total - l.cfg.RetentionBytes
		n := l.countDeletable(func(s *segment) bool {
			if diff-s.size < 0 {
				return false
			}
			diff -= s.size
			return true
		})
		d, err := l.deletePrefix(n)
		deletedSegments += d
		if err != nil {
			return deletedSegments, err
		}
	}
	d, err := l.deletePrefix(l.countBelowStart())
	return deletedSegments + d, err
}

// countDeletable counts the leading segments for which pred holds, never
// counting an empty last segment.
func (l *Log) countDeletable(pred func(*segment) bool) int {
	n := 0
	for n < len(l.segs) {
		s := l.segs[n]
		if (n == len(l.segs)-1 && s.size == 0) || !pred(s) {
			break
		}
		n++
	}
	return n
}

// deletePrefix deletes the first n segments, rolling first if that is all
// of them, after persisting the raised log start offset.
func (l *Log) deletePrefix(n int) (int, error) {
	if n == 0 {
		return 0, nil
	}
	if n == len(l.segs) {
		if err := l.roll(l.now()); err != nil {
			return 0, l.fail(err)
		}
	}
	if err := l.raiseStartOffset(l.segs[n].base); err != nil {
		return 0, err
	}
	for i := 0; i < n; i++ {
		if err := l.segs[0].remove(l.fs); err != nil {
			return i, l.fail(err)
		}
		l.segs = l.segs[1:]
	}
	l.recomputeMaxTimestamp()
	return n, nil
}

// TruncateTo drops every batch that holds offsets at or after offset
// (follower truncation). Truncation works on whole batches: if offset falls
// inside a batch, that batch goes too and the log end offset becomes its
// base offset. Truncating below the first segment empties the log and
// starts it at offset; the log start offset never stays above the end.
// The truncation is fsynced before TruncateTo returns.
func (l *Log) TruncateTo(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if offset >= l.endOffset {
		return nil
	}
	if offset < 0 {
		return fmt.Errorf("%w: truncate to %d", ErrOffsetOutOfRange, offset)
	}
	if err := l.truncateCleanerState(offset); err != nil {
		return l.fail(err)
	}
	if ckpt, _, ok := l.readTxnCheckpoint(); ok && ckpt > offset {
		// It describes records about to go: a crash after the cut must not
		// find it valid again once the log regrows past its offset.
		if err := l.removeTxnCheckpoint(); err != nil {
			return l.fail(err)
		}
	}
	if offset < l.segs[0].base {
		return l.truncateFullyAndStartAt(offset)
	}
	for len(l.segs) > 1 && l.active().base > offset {
		if err := l.active().remove(l.fs); err != nil {
			return l.fail(err)
		}
		l.segs = l.segs[:len(l.segs)-1]
	}
	s := l.active()
	if err := s.truncateAt(offset, l.cfg.IndexIntervalBytes); err != nil {
		return l.fail(err)
	}
	if s.size == 0 {
		s.created = l.now()
	}
	l.endOffset = s.next
	l.recoveryPoint = l.endOffset
	if err := l.rebuildTxnsLocked(); err != nil {
		return l.fail(err)
	}
	if err := l.writeTxnCheckpointLocked(l.endOffset); err != nil {
		return l.fail(err)
	}
	if l.startOffset > l.endOffset {
		// Lowering is safe to persist late: a crash before it leaves a
		// start offset above the end, which Open resolves the same way.
		if err := l.writeCheckpoint(l.endOffset); err != nil {
			return l.fail(err)
		}
		l.startOffset = l.endOffset
	}
	l.recomputeMaxTimestamp()
	return nil
}

// truncateFullyAndStartAt deletes every segment and starts an empty log
// whose start and end offsets are offset.
func (l *Log) truncateFullyAndStartAt(offset int64) error {
	if err := l.removeTxnCheckpoint(); err != nil {
		return l.fail(err)
	}
	if err := l.truncateCleanerState(offset); err != nil {
		return l.fail(err)
	}
	if offset != l.startOffset {
		if err := l.writeCheckpoint(offset); err != nil {
			return l.fail(err)
		}
	}
	for _, s := range l.segs {
		if err := s.remove(l.fs); err != nil {
			return l.fail(err)
		}
	}
	l.segs = nil
	s, err := openSegment(l.fs, l.dir, offset, true, l.now())
	if err != nil {
		return l.fail(err)
	}
	l.segs = []*segment{s}
	l.startOffset, l.endOffset, l.recoveryPoint = offset, offset, offset
	l.txns = newTxnTracker()
	l.recomputeMaxTimestamp()
	if err := vfs.SyncDir(l.fs, l.dir); err != nil {
		return l.fail(err)
	}
	return nil
}
