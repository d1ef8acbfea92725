package partlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

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

// rebuildTxnsLocked replays every batch header of the log through a fresh
// tracker (reading whole batches only for markers) and makes each
// segment's .txnindex agree with it. Open and truncation call it: the
// open transactions are not persisted, so they are always derived from the
// log itself.
func (l *Log) rebuildTxnsLocked() error {
	t := newTxnTracker()
	var buf []byte
	for _, s := range l.segs {
		var es []AbortedTxn
		for pos := int64(0); pos < s.size; {
			h, err := s.header(pos)
			if err != nil {
				return err
			}
			if h.Transactional() && h.ProducerID >= 0 {
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

// FirstUnstableOffset is the first offset of the oldest open transaction
// (never below the log start offset), or the log end offset when none is
// open. The last stable offset is the smaller of it and the high
// watermark.
func (l *Log) FirstUnstableOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return max(l.txns.firstUnstable(l.endOffset), l.startOffset)
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
