package partlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/internal/vfs"
)

// syncTxn fsyncs the segment's .txnindex if it has unsynced entries.
func (s *segment) syncTxn() error {
	if s.txn == nil || !s.txnDirty {
		return nil
	}
	if err := s.txn.Sync(); err != nil {
		return err
	}
	s.txnDirty = false
	return nil
}

// openTxn opens (creating) the .txnindex positioned at its end.
func (s *segment) openTxn(fsys vfs.FS, truncate bool) error {
	if s.txn == nil {
		f, err := fsys.OpenFile(s.txnPath, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		s.txn = f
	}
	if truncate {
		if err := s.txn.Truncate(0); err != nil {
			return err
		}
	}
	_, err := s.txn.Seek(0, io.SeekEnd)
	return err
}

// appendAborted adds one entry to the .txnindex (synced with the .log by
// Flush and at roll).
func (s *segment) appendAborted(fsys vfs.FS, e AbortedTxn) error {
	if err := s.openTxn(fsys, false); err != nil {
		return err
	}
	if _, err := s.txn.Write(encodeAborted([]AbortedTxn{e})); err != nil {
		return err
	}
	s.aborted = append(s.aborted, e)
	s.txnDirty = true
	return nil
}

// setAborted makes the .txnindex hold exactly es (rebuilt from the log),
// rewriting it only when it differs, and removing it when es is empty.
func (s *segment) setAborted(fsys vfs.FS, es []AbortedTxn) error {
	s.aborted = es
	want := encodeAborted(es)
	have, err := vfs.ReadFile(fsys, s.txnPath)
	switch {
	case vfs.IsNotExist(err):
		have = nil
	case err != nil:
		return err
	}
	if bytes.Equal(have, want) && (len(es) == 0 || have != nil) {
		return nil // appendAborted opens the file when it needs to
	}
	if len(es) == 0 {
		if s.txn != nil {
			if err := s.txn.Close(); err != nil {
				return err
			}
			s.txn = nil
		}
		if err := fsys.Remove(s.txnPath); err != nil && !vfs.IsNotExist(err) {
			return err
		}
		return nil
	}
	if err := s.openTxn(fsys, true); err != nil {
		return err
	}
	if _, err := s.txn.Write(want); err != nil {
		return err
	}
	s.txnDirty = true
	return s.syncTxn()
}

// trackTxnLocked follows transactions through an appended batch and
// indexes an ABORT marker that ended one; l.mu is held.
func (l *Log) trackTxnLocked(batch []byte, h records.Header) error {
	if !h.Transactional() || h.ProducerID < 0 {
		return nil
	}
	if !h.Control() {
		l.txns.data(h.ProducerID, h.BaseOffset)
		return nil
	}
	m, err := ParseMarker(batch)
	if err != nil {
		return nil // another control type, or undecodable: it ends nothing
	}
	if e, ok := l.txns.marker(m); ok {
		return l.active().appendAborted(l.fs, e)
	}
	return nil
}

// errBadTxnIndex: a .txnindex below the transaction checkpoint does not
// decode or does not fit its segment; the state is rebuilt from the whole
// log instead.
var errBadTxnIndex = errors.New("partlog: bad transaction index")

// rebuildTxnsLocked restores the open transactions and every segment's
// aborted transaction index after Open or a truncation: from the
// transaction checkpoint when it is usable (the .txnindex entries below
// its offset are kept, the batches from it on replayed), else by
// replaying every batch header of the log. l.mu is held (or the log is
// not shared yet).
func (l *Log) rebuildTxnsLocked() error {
	if offset, open, ok := l.readTxnCheckpoint(); ok && offset >= l.segs[0].base && offset <= l.endOffset {
		err := l.replayTxnsLocked(offset, open)
		if !errors.Is(err, errBadTxnIndex) {
			return err
		}
	}
	return l.replayTxnsLocked(l.segs[0].base, map[int64]int64{})
}

// replayTxnsLocked rebuilds the transaction state from offset from on,
// starting with the open transactions given as of from: each segment's
// index keeps its entries for markers below from (read from its file) and
// gets those of the markers replayed from from on.
func (l *Log) replayTxnsLocked(from int64, open map[int64]int64) error {
	t := txnTracker{open: open}
	var buf []byte
	for _, s := range l.segs {
		var es []AbortedTxn
		if from > s.base {
			kept, err := abortedBelow(l.fs, s, from)
			if err != nil {
				return err
			}
			es = kept
		}
		pos := int64(0)
		if from > s.base {
			pos = s.positionFor(from)
		}
		for pos < s.size {
			h, err := s.header(pos)
			if err != nil {
				return err
			}
			if h.LastOffset() >= from && h.Transactional() && h.ProducerID >= 0 {
				if !h.Control() {
					t.data(h.ProducerID, h.BaseOffset)
				} else {
					if cap(buf) < h.Size() {
						buf = make([]byte, h.Size())
					}
					buf = buf[:h.Size()]
					if _, err := s.log.ReadAt(buf, pos); err != nil && !errors.Is(err, io.EOF) {
						return fmt.Errorf("partlog: read marker of %s at %d: %w", s.paths[0], pos, err)
					}
					if m, err := ParseMarker(buf); err == nil {
						if e, ok := t.marker(m); ok {
							es = append(es, e)
						}
					}
				}
			}
			pos += int64(h.Size())
		}
		if err := s.setAborted(l.fs, es); err != nil {
			return err
		}
	}
	l.txns = t
	return nil
}

// abortedBelow reads the entries of s's .txnindex for markers below from.
// Entries at or above it may be torn or lost (written after the
// checkpoint, unsynced) and are dropped: the replay rewrites them. A
// segment wholly below from was synced before the checkpoint was written,
// so a torn file there is damage (errBadTxnIndex).
func abortedBelow(fsys vfs.FS, s *segment, from int64) ([]AbortedTxn, error) {
	data, err := vfs.ReadFile(fsys, s.txnPath)
	if vfs.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	torn := len(data) % txnIndexEntryBytes
	if torn != 0 && s.next <= from {
		// Synced before the checkpoint was written: damage, not a crash.
		return nil, fmt.Errorf("%w: %s has %d bytes", errBadTxnIndex, s.txnPath, len(data))
	}
	es, ok := decodeAborted(data[:len(data)-torn])
	if !ok {
		return nil, fmt.Errorf("%w: %s", errBadTxnIndex, s.txnPath)
	}
	var kept []AbortedTxn
	for i, e := range es {
		if e.LastOffset >= from {
			break
		}
		if e.LastOffset < s.base || e.LastOffset >= s.next || (i > 0 && e.LastOffset <= es[i-1].LastOffset) {
			return nil, fmt.Errorf("%w: %s: entry %+v outside [%d, %d)", errBadTxnIndex, s.txnPath, e, s.base, s.next)
		}
		kept = append(kept, e)
	}
	return kept, nil
}

// txnCheckpointName is the file holding the open transactions as of an
// offset, written at every roll (as of the new segment's base) and at a
// clean close (as of the log end), so Open replays only the batches above
// it. Content: "0\n<offset>\n<count>\n" then "<producer id> <first
// offset>\n" per open transaction, by producer id.
const txnCheckpointName = "txn-state-checkpoint"

func (l *Log) writeTxnCheckpointLocked(offset int64) error {
	ids := make([]int64, 0, len(l.txns.open))
	for id := range l.txns.open {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	fmt.Fprintf(&b, "0\n%d\n%d\n", offset, len(ids))
	for _, id := range ids {
		fmt.Fprintf(&b, "%d %d\n", id, l.txns.open[id])
	}
	return vfs.WriteFileAtomic(l.fs, filepath.Join(l.dir, txnCheckpointName), []byte(b.String()), 0o644)
}

// removeTxnCheckpoint drops the checkpoint when the log below its offset
// changed (truncation): it no longer describes this log.
func (l *Log) removeTxnCheckpoint() error {
	err := l.fs.Remove(filepath.Join(l.dir, txnCheckpointName))
	if err != nil && !vfs.IsNotExist(err) {
		return err
	}
	return nil
}

// readTxnCheckpoint parses the checkpoint; ok is false when it is missing
// or malformed (the caller then replays the whole log).
func (l *Log) readTxnCheckpoint() (offset int64, open map[int64]int64, ok bool) {
	data, err := vfs.ReadFile(l.fs, filepath.Join(l.dir, txnCheckpointName))
	if err != nil {
		return 0, nil, false
	}
	return parseTxnCheckpoint(data)
}

func parseTxnCheckpoint(data []byte) (offset int64, open map[int64]int64, ok bool) {
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) < 3 || lines[0] != "0" {
		return 0, nil, false
	}
	offset, err1 := strconv.ParseInt(lines[1], 10, 64)
	count, err2 := strconv.Atoi(lines[2])
	if err1 != nil || err2 != nil || offset < 0 || count != len(lines)-3 {
		return 0, nil, false
	}
	open = make(map[int64]int64, count)
	for _, line := range lines[3:] {
		idText, firstText, found := strings.Cut(line, " ")
		id, err1 := strconv.ParseInt(idText, 10, 64)
		first, err2 := strconv.ParseInt(firstText, 10, 64)
		if !found || err1 != nil || err2 != nil || id < 0 || first < 0 || first >= offset {
			return 0, nil, false
		}
		if _, dup := open[id]; dup {
			return 0, nil, false
		}
		open[id] = first
	}
	return offset, open, true
}

// FirstUnstableOffset is the first offset of the oldest open transaction
// (never below the log start offset), or the log end offset when none is
// open. The last stable offset is the smaller of it and the high
// watermark.
func (l *Log) FirstUnstableOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return max(l.txns.firstUnstable(l.endOffset), l.startOffset)
}

// OpenTxnFirstOffset is the first offset of the producer's open
// transaction; ok is false when it has none open here.
func (l *Log) OpenTxnFirstOffset(producerID int64) (first int64, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	first, ok = l.txns.open[producerID]
	return first, ok
}

// OpenTxns returns the open transactions: producer id to the first offset
// of its transaction.
func (l *Log) OpenTxns() map[int64]int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make(map[int64]int64, len(l.txns.open))
	for id, first := range l.txns.open {
		out[id] = first
	}
	return out
}

// AbortedTxns returns the aborted transactions whose data may overlap
// [from, upTo), in marker order, as a read_committed fetch returns them:
// those whose marker is at or after from and whose first offset is below
// upTo. The walk stops at the first entry whose last stable offset reached
// upTo, since every transaction touching the range had completed by then.
func (l *Log) AbortedTxns(from, upTo int64) []AbortedTxn {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []AbortedTxn
	for i := l.segmentFor(from); i < len(l.segs); i++ {
		for _, e := range l.segs[i].aborted {
			if e.LastOffset >= from && e.FirstOffset < upTo {
				out = append(out, e)
			}
			if e.LastStableOffset >= upTo {
				return out
			}
		}
	}
	return out
}
