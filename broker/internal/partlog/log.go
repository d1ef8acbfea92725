package partlog

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/internal/vfs"
)

// Log is one partition's segmented log. See the package doc for the
// durability contract.
type Log struct {
	mu   sync.RWMutex
	fs   vfs.FS
	dir  string
	cfg  Config
	now  func() time.Time
	segs []*segment // ascending base offsets; never empty while open

	startOffset   int64 // log start offset
	endOffset     int64 // log end offset: next offset to assign
	recoveryPoint int64 // offsets below it are durable
	maxTs         int64 // largest batch MaxTimestamp; -1 if none
	maxTsOffset   int64 // last offset of that batch; -1 if none
	txns          txnTracker

	closed bool
	failed error // sticky ErrStorage

	cleanMu     sync.Mutex // one cleaning pass at a time (compact.go)
	truncations uint64     // truncations so far, under mu: a pass that saw one abandons its checkpoint
}

// Open opens or creates the log in dir, recovering from an unclean
// shutdown as the package doc describes.
func Open(fsys vfs.FS, dir string, cfg Config, now func() time.Time) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if fsys == nil || now == nil {
		return nil, fmt.Errorf("%w: nil filesystem or clock", ErrInvalidConfig)
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l := &Log{fs: fsys, dir: dir, cfg: cfg, now: now, maxTs: -1, maxTsOffset: -1, txns: newTxnTracker()}
	swapped, err := l.completeSwaps()
	if err != nil {
		return nil, err
	}
	bases, err := l.cleanDir()
	if err != nil {
		return nil, err
	}
	ckpt, err := l.readCheckpoint()
	if err != nil {
		return nil, err
	}
	if err := l.loadSegments(bases, swapped); err != nil {
		l.closeSegments()
		return nil, err
	}
	if err := l.settleStart(ckpt); err != nil {
		l.closeSegments()
		return nil, err
	}
	if err := l.rebuildTxnsLocked(); err != nil {
		l.closeSegments()
		return nil, err
	}
	if err := vfs.SyncDir(fsys, dir); err != nil {
		l.closeSegments()
		return nil, err
	}
	return l, nil
}

// cleanDir removes leftovers (temporary files, indexes without a .log) and
// returns the base offsets of the segments, ascending. Files it does not
// recognise are left alone: they are not ours to delete.
func (l *Log) cleanDir() ([]int64, error) {
	names, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	logs := map[int64]bool{}
	var bases []int64
	for _, n := range names {
		if b, ok := parseSegmentName(n, logSuffix); ok {
			logs[b] = true
			bases = append(bases, b)
		}
	}
	for _, n := range names {
		stale := strings.HasSuffix(n, ".tmp") || strings.HasSuffix(n, ".deleted") ||
			strings.HasSuffix(n, ".cleaned") || strings.HasSuffix(n, ".swap")
		for _, suffix := range []string{indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			if b, ok := parseSegmentName(n, suffix); ok && !logs[b] {
				stale = true
			}
		}
		if stale {
			if err := l.fs.Remove(filepath.Join(l.dir, n)); err != nil && !vfs.IsNotExist(err) {
				return nil, err
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// loadSegments opens every segment; the last (and any just swapped in by
// the cleaner) is fully validated. The first segment that overlaps its
// predecessor's offsets, and everything after it, is deleted: the log must
// stay a prefix whose offsets only grow.
func (l *Log) loadSegments(bases []int64, swapped map[int64]bool) error {
	now := l.now()
	for i, base := range bases {
		s, err := openSegment(l.fs, l.dir, base, false, now)
		if err != nil {
			return err
		}
		if i == len(bases)-1 || swapped[base] {
			// The last segment may hold unsynced data; a segment whose
			// cleaned copy was just swapped in has no indexes yet.
			err = s.recover(l.cfg.IndexIntervalBytes)
		} else {
			err = s.load(l.cfg.IndexIntervalBytes)
		}
		if err != nil {
			s.close()
			return err
		}
		if n := len(l.segs); n > 0 && (l.segs[n-1].next > s.base || l.segs[n-1].cutInRecovery) {
			// An overlap, or a sealed predecessor that lost its tail: the
			// data from here on cannot be trusted to follow what came
			// before. (A gap is legal: compaction may remove the last
			// batches of a segment.)
			if err := s.remove(l.fs); err != nil {
				return err
			}
			for _, b := range bases[i+1:] {
				if err := removeSegmentFiles(l.fs, l.dir, b); err != nil {
					return err
				}
			}
			break
		}
		l.segs = append(l.segs, s)
	}
	if len(l.segs) > 0 {
		// The new active segment may have been sealed and then truncated in
		// recovery; it needs its first timestamp for time-based rolls.
		active := l.segs[len(l.segs)-1]
		if active.size > 0 && active.firstTs < 0 {
			h, err := active.header(0)
			if err != nil {
				return err
			}
			active.firstTs = h.MaxTimestamp
		}
		if active.size > 0 && active.firstTs < 0 {
			active.created = active.lastModified
		}
	}
	return nil
}

func removeSegmentFiles(fsys vfs.FS, dir string, base int64) error {
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		if err := fsys.Remove(filepath.Join(dir, segmentName(base, suffix))); err != nil && !vfs.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// settleStart establishes the log start offset and end offset after the
// segments are loaded. ckpt is the checkpointed start offset, -1 if none.
func (l *Log) settleStart(ckpt int64) error {
	if len(l.segs) == 0 {
		s, err := openSegment(l.fs, l.dir, max(ckpt, 0), true, l.now())
		if err != nil {
			return err
		}
		l.segs = []*segment{s}
	}
	l.startOffset = max(ckpt, l.segs[0].base)
	l.endOffset = l.segs[len(l.segs)-1].next
	l.recoveryPoint = l.endOffset
	if l.startOffset > l.endOffset {
		// The start offset was made durable but the data below it was not
		// (or was damaged): nothing below it may reappear, so start over
		// empty at the start offset, as Kafka does.
		if err := l.truncateFullyAndStartAt(l.startOffset); err != nil {
			return err
		}
	}
	l.recomputeMaxTimestamp()
	return nil
}

func (l *Log) recomputeMaxTimestamp() {
	l.maxTs, l.maxTsOffset = -1, -1
	for _, s := range l.segs {
		if s.maxTs > l.maxTs {
			l.maxTs, l.maxTsOffset = s.maxTs, s.maxTsOffset
		}
	}
}

func (l *Log) closeSegments() error {
	var errs []error
	for _, s := range l.segs {
		errs = append(errs, s.close())
	}
	l.segs = nil
	return errors.Join(errs...)
}

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// fail records a storage failure; later writes return it.
func (l *Log) fail(err error) error {
	if l.failed == nil {
		l.failed = fmt.Errorf("%w: %s: %w", ErrStorage, l.dir, err)
	}
	return l.failed
}

func (l *Log) writable() error {
	if l.closed {
		return ErrClosed
	}
	return l.failed
}

// Append assigns the batch the next offsets by rewriting its base offset in
// place, writes it, indexes it, rolls the segment first if needed and
// fsyncs per FlushIntervalMessages. The caller has checked the CRC; the
// base offset is not covered by it.
func (l *Log) Append(batch []byte) (AppendResult, error) {
	h, err := records.ReadHeader(batch)
	if err != nil {
		return AppendResult{}, fmt.Errorf("partlog: append: %w", err)
	}
	if h.Size() != len(batch) {
		return AppendResult{}, fmt.Errorf("partlog: append: batch says %d bytes, got %d: %w", h.Size(), len(batch), records.ErrCorrupt)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return AppendResult{}, err
	}
	now := l.now()
	if l.shouldRoll(h, l.endOffset, now) {
		if err := l.roll(now); err != nil {
			return AppendResult{}, l.fail(err)
		}
	}
	records.SetBaseOffset(batch, l.endOffset)
	h.BaseOffset = l.endOffset
	return l.writeLocked(batch, h, now)
}

// writeLocked writes a batch whose base offset is the log end offset (the
// segment is rolled already); l.mu is held.
func (l *Log) writeLocked(batch []byte, h records.Header, now time.Time) (AppendResult, error) {
	if err := l.active().append(batch, h, l.cfg.IndexIntervalBytes, now); err != nil {
		return AppendResult{}, l.fail(err)
	}
	l.endOffset = h.LastOffset() + 1
	if err := l.trackTxnLocked(batch, h); err != nil {
		return AppendResult{}, l.fail(err)
	}
	if h.MaxTimestamp > l.maxTs {
		l.maxTs, l.maxTsOffset = h.MaxTimestamp, h.LastOffset()
	}
	if n := l.cfg.FlushIntervalMessages; n > 0 && l.endOffset-l.recoveryPoint >= n {
		if err := l.flushLocked(); err != nil {
			return AppendResult{}, err
		}
	}
	return AppendResult{BaseOffset: h.BaseOffset, LastOffset: h.LastOffset(), LogStartOffset: l.startOffset}, nil
}

// shouldRoll follows Kafka's LogSegment.shouldRoll: never for an empty
// segment; when the batch would push it past SegmentBytes; when the batch's
// timestamp is SegmentRoll past the segment's first batch (or, without
// timestamps, the segment is that old); or when the indexes' 4-byte
// relative offsets or positions would overflow. base is the batch's base
// offset once appended.
func (l *Log) shouldRoll(h records.Header, base int64, now time.Time) bool {
	s := l.active()
	if s.size == 0 {
		return false
	}
	size := int64(h.Size())
	if s.size+size > l.cfg.SegmentBytes || s.size+size > math.MaxInt32 {
		return true
	}
	if base+int64(h.LastOffsetDelta)-s.base > math.MaxInt32 {
		return true
	}
	if l.cfg.SegmentRoll > 0 {
		var waitedMs int64
		if s.firstTs >= 0 {
			waitedMs = h.MaxTimestamp - s.firstTs
		} else {
			waitedMs = now.Sub(s.created).Milliseconds()
		}
		if waitedMs > l.cfg.SegmentRoll.Milliseconds() {
			return true
		}
	}
	return false
}

// roll seals the active segment (fsyncing it) and starts a new one at the
// log end offset. Sealing first keeps the invariant that only the last
// segment can hold unsynced data.
func (l *Log) roll(now time.Time) error {
	if err := l.active().seal(); err != nil {
		return err
	}
	s, err := openSegment(l.fs, l.dir, l.endOffset, true, now)
	if err != nil {
		return err
	}
	l.segs = append(l.segs, s)
	l.recoveryPoint = l.endOffset
	if err := vfs.SyncDir(l.fs, l.dir); err != nil {
		return err
	}
	// Everything below the new segment is durable: a crash replays only
	// the transactions from here on.
	return l.writeTxnCheckpointLocked(l.endOffset)
}

// Flush fsyncs everything appended so far.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	return l.flushLocked()
}

func (l *Log) flushLocked() error {
	for _, s := range l.segs {
		if s.dirty {
			if err := s.log.Sync(); err != nil {
				return l.fail(err)
			}
			s.dirty = false
		}
		if err := s.syncTxn(); err != nil {
			return l.fail(err)
		}
	}
	l.recoveryPoint = l.endOffset
	return nil
}

// StartOffset is the log start offset: the first offset a Read may ask for.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.startOffset
}

// EndOffset is the log end offset: the offset the next appended record gets.
func (l *Log) EndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.endOffset
}

// Size is the total size of the segment files in bytes.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// SetConfig changes the configuration; it applies from the next operation.
// An invalid config is rejected and the old one kept.
func (l *Log) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg = cfg
	return nil
}

// segmentFor returns the index of the segment that holds offset: the last
// one whose base offset is at or below it.
func (l *Log) segmentFor(offset int64) int {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset })
	return max(i-1, 0)
}

// Read returns whole batches, starting with the one that contains offset,
// up to maxBytes but always at least one batch (KIP-74), never a batch whose
// base offset is at or above upTo (the high watermark or last stable
// offset). It may span segments. offset == EndOffset, or nothing below upTo,
// gives (nil, nil).
func (l *Log) Read(offset int64, maxBytes int, upTo int64) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	if offset < l.startOffset || offset > l.endOffset {
		return nil, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, l.startOffset, l.endOffset)
	}
	var out []byte
	first := l.segmentFor(offset)
	for i := first; i < len(l.segs); i++ {
		s := l.segs[i]
		pos := int64(0)
		if i == first {
			pos = s.positionFor(offset)
		}
		start, done := int64(-1), false
		total := int64(len(out)) // bytes chosen so far, this segment included
		for pos < s.size {
			h, err := s.header(pos)
			if err != nil {
				return nil, err
			}
			size := int64(h.Size())
			if h.LastOffset() < offset {
				pos += size
				continue
			}
			if h.BaseOffset >= upTo || (total > 0 && total+size > int64(maxBytes)) {
				done = true
				break
			}
			if start < 0 {
				start = pos
			}
			pos += size
			total += size
		}
		if start >= 0 {
			n := len(out)
			out = slices.Grow(out, int(pos-start))[:n+int(pos-start)] // one allocation, no copy
			if _, err := s.log.ReadAt(out[n:], start); err != nil {
				return nil, fmt.Errorf("partlog: read %s at %d: %w", s.paths[0], start, err)
			}
		}
		if done {
			break
		}
	}
	return out, nil
}

// FindTimestamp returns the first batch at or above the log start offset
// whose max timestamp is >= ts (ListOffsets by time), using the time
// indexes. The batch may begin below the start offset; the caller decodes
// its records to find the exact one. ok is false if no batch qualifies.
func (l *Log) FindTimestamp(ts int64) (batch []byte, ok bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, false, ErrClosed
	}
	for _, s := range l.segs {
		if s.next <= l.startOffset || s.maxTs < ts {
			continue
		}
		pos := s.positionFor(max(s.offsetForTime(ts), l.startOffset))
		for pos < s.size {
			h, err := s.header(pos)
			if err != nil {
				return nil, false, err
			}
			if h.LastOffset() >= l.startOffset && h.MaxTimestamp >= ts {
				b := make([]byte, h.Size())
				if _, err := s.log.ReadAt(b, pos); err != nil {
					return nil, false, fmt.Errorf("partlog: read %s at %d: %w", s.paths[0], pos, err)
				}
				return b, true, nil
			}
			pos += int64(h.Size())
		}
	}
	return nil, false, nil
}

// MaxTimestamp returns the largest batch max timestamp in the log and the
// last offset of the batch that has it (ListOffsets -3), or (-1, -1).
func (l *Log) MaxTimestamp() (ts int64, offset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.maxTs, l.maxTsOffset
}

// Close flushes and closes the log.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	var err error
	if l.failed == nil {
		err = l.flushLocked()
		if err == nil {
			err = l.writeTxnCheckpointLocked(l.endOffset)
		}
	}
	l.closed = true
	return errors.Join(err, l.closeSegments())
}

// Delete closes the log and removes its directory (topic deletion).
func (l *Log) Delete() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.closed = true
	cerr := l.closeSegments()
	return errors.Join(cerr, l.fs.RemoveAll(l.dir))
}
