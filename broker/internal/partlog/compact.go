package partlog

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/internal/vfs"
)

// Log compaction (Kafka's LogCleaner), one pass at a time.
//
// The log splits into a clean prefix (segments already cleaned) and a dirty
// rest, starting at the first dirty offset kept in cleaner-checkpoint. A
// pass builds the newest offset of every key in the cleanable part of the
// dirty section (sealed segments wholly below the caller's bound and older
// than min.compaction.lag.ms), then rewrites every segment from the log
// start to the end of that range, keeping a record only if no newer record
// has its key. Offsets never change: a rewritten batch keeps its base
// offset and its last offset delta, and batches that lose every record
// vanish, leaving a gap. Aborted transactional data goes; an emptied batch
// that is a producer's last data batch in the log stays without records so
// that the producer's sequence survives a rebuild from the log.
//
// Tombstones and transaction markers go by KIP-534's per-batch delete
// horizon (compact_filter.go): the first pass that keeps a tombstone, or
// reads a marker but no data of its transaction, rewrites its batch with
// attribute bit 6 set and the horizon (pass time plus delete.retention.ms)
// as the batch's first timestamp; a later pass at or after the horizon
// drops them. As in Kafka, the horizon passing does not by
// itself make a log due for cleaning.
//
// A segment is rewritten into <base>.log.cleaned, fsynced, renamed to
// <base>.log.swap (the commit point: Open finishes a swap it finds), then
// its old indexes are removed and the .swap renamed over the .log.

// cleanerCheckpointName holds the first dirty offset (Kafka's
// cleaner-offset-checkpoint, per log). Content: "0\n<first dirty
// offset>\n0\n". Files written before the per-batch horizon list per-segment
// cleaning times after that; they are read and ignored. Missing or
// malformed: everything is dirty, which only costs a longer pass.
const cleanerCheckpointName = "cleaner-checkpoint"

const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
)

// ErrCleaningAborted: the log changed under a cleaning pass (a segment was
// deleted or truncated); the pass stopped and may simply be retried.
var ErrCleaningAborted = errors.New("partlog: cleaning aborted by a concurrent change")

// Cleanability describes how much of a log a cleaning pass could clean.
type Cleanability struct {
	FirstDirtyOffset       int64
	FirstUncleanableOffset int64 // cleaning stops below this segment base
	CleanBytes, DirtyBytes int64 // cleanable dirty bytes only
	// DirtyRatio is DirtyBytes / (CleanBytes + DirtyBytes), 0 for none.
	DirtyRatio float64
	// MaxLagExceeded: the oldest dirty segment is older than
	// max.compaction.lag.ms, so the log is cleaned whatever the ratio.
	MaxLagExceeded bool
}

// Due reports whether a compacted log should be cleaned now.
func (c Cleanability) Due(minRatio float64) bool {
	// Strictly above the ratio, as Kafka's grabFilthiestCompactedLog.
	return c.DirtyBytes > 0 && (c.DirtyRatio > minRatio || c.MaxLagExceeded)
}

// CleanStats describes one cleaning pass.
type CleanStats struct {
	FirstDirtyOffset  int64 // start of the range whose keys were deduplicated
	EndOffset         int64 // its end: the next pass's first dirty offset
	SegmentsRead      int
	SegmentsRewritten int
	BytesRead         int64
	BytesWritten      int64 // of rewritten segments
	// BytesRetained is what the pass kept of BytesRead, rewritten or left
	// in place (Kafka's recopy numerator, which copies every segment).
	BytesRetained  int64
	RecordsRead    int64
	RecordsRemoved int64
}

type cleanerState struct {
	firstDirty int64
}

func (l *Log) readCleanerState() cleanerState {
	data, err := vfs.ReadFile(l.fs, filepath.Join(l.dir, cleanerCheckpointName))
	if err != nil {
		return cleanerState{}
	}
	var version, first int64
	var n int
	rest := string(data)
	if _, err := fmt.Sscanf(rest, "%d\n%d\n%d\n", &version, &first, &n); err != nil || version != 0 || first < 0 || n < 0 {
		return cleanerState{}
	}
	if len(splitLines(rest)) != 3+n {
		return cleanerState{}
	}
	return cleanerState{firstDirty: first}
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

func (l *Log) writeCleanerState(st cleanerState) error {
	out := fmt.Appendf(nil, "0\n%d\n0\n", st.firstDirty)
	return vfs.WriteFileAtomic(l.fs, filepath.Join(l.dir, cleanerCheckpointName), out, 0o644)
}

// Cleanable measures the log for the cleaner: upTo bounds what may be
// cleaned (the last stable offset: below the high watermark and every open
// transaction), now is the clock for the compaction lags.
func (l *Log) Cleanable(upTo int64, now time.Time) Cleanability {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return Cleanability{}
	}
	c, _, _ := l.cleanableLocked(l.readCleanerState(), upTo, now)
	return c
}

// cleanableLocked also returns the index of the first dirty segment and of
// the first uncleanable one (segments [dirty, uncleanable) are cleanable).
func (l *Log) cleanableLocked(st cleanerState, upTo int64, now time.Time) (Cleanability, int, int) {
	firstDirty := max(st.firstDirty, l.startOffset)
	if firstDirty > l.endOffset {
		firstDirty = l.startOffset // a stale checkpoint: all is dirty
	}
	nowMs, lagMs := now.UnixMilli(), l.cfg.MinCompactionLag.Milliseconds()
	dirty, stop := len(l.segs)-1, len(l.segs)-1 // the active segment is never cleaned
	for i, s := range l.segs[:len(l.segs)-1] {
		if s.next > firstDirty && dirty == len(l.segs)-1 {
			dirty = i
		}
		if s.next > upTo || (i >= dirty && lagMs > 0 && nowMs-s.largestTimestamp() < lagMs) {
			stop = i
			break
		}
	}
	dirty = min(dirty, stop)
	c := Cleanability{FirstDirtyOffset: firstDirty, FirstUncleanableOffset: l.segs[stop].base}
	for i, s := range l.segs[:stop] {
		if i < dirty {
			c.CleanBytes += s.size
		} else {
			c.DirtyBytes += s.size
		}
	}
	if total := c.CleanBytes + c.DirtyBytes; total > 0 {
		c.DirtyRatio = float64(c.DirtyBytes) / float64(total)
	}
	if lag := l.cfg.MaxCompactionLag; lag > 0 && dirty < stop {
		first := l.segs[dirty]
		ts := first.firstTs
		if ts < 0 {
			if h, err := first.header(0); err == nil && first.size > 0 {
				ts = h.MaxTimestamp
			}
		}
		if ts < 0 {
			ts = first.largestTimestamp()
		}
		c.MaxLagExceeded = nowMs-ts > lag.Milliseconds()
	}
	return c, dirty, stop
}

// Clean runs one cleaning pass (see the comment at the top of compact.go).
// upTo is the last stable offset; nothing at or above it is touched, nor
// the active segment. maxMapEntries bounds the key map (Kafka's dedupe
// buffer): the pass then covers fewer dirty segments, at least one. It is
// a no-op for a log whose Config.Compact is false.
func (l *Log) Clean(upTo int64, now time.Time, maxMapEntries int) (CleanStats, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	p, err := l.planClean(upTo, now, maxMapEntries)
	if err != nil || p == nil {
		return CleanStats{}, err
	}
	stats := p.stats
	for _, g := range p.groups(l.cfg.SegmentBytes) {
		retained, changed, err := l.cleanGroup(p, g, now)
		if err != nil {
			return stats, err
		}
		for _, i := range g {
			stats.SegmentsRead++
			stats.BytesRead += p.sizes[i]
		}
		if changed {
			stats.SegmentsRewritten += len(g)
		}
		stats.BytesRetained += retained
		if changed {
			stats.BytesWritten += retained
		}
	}
	stats.RecordsRead, stats.RecordsRemoved = p.recordsRead, p.recordsRemoved
	p.state.firstDirty = stats.EndOffset
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.truncations != p.truncations {
		// Closed (deleted), or a truncation lowered the first dirty offset
		// meanwhile: this pass's view of the log is stale.
		return stats, fmt.Errorf("%w: log closed or truncated during the pass", ErrCleaningAborted)
	}
	if err := l.writeCleanerState(p.state); err != nil {
		return stats, fmt.Errorf("partlog: cleaner checkpoint: %w", err)
	}
	return stats, nil
}

// cleanPlan is what a pass decided under the read lock.
type cleanPlan struct {
	state    cleanerState
	segs     []*segment // to rewrite, ascending, all sealed
	sizes    []int64    // their sizes when planned
	latest   map[string]int64
	aborted  map[int64][]AbortedTxn // producer id -> its aborted transactions
	lastData map[int64]int64        // producer id -> last offset of its last data batch
	stats    CleanStats

	// txnData: the pass read a transactional data batch of the producer
	// since its last marker (Kafka's CleanedTransactionMetadata). The
	// marker that ends the transaction stays, without a delete horizon,
	// while so; the batch may have been emptied or dropped by this very
	// pass, which only delays the marker's horizon to the next pass.
	txnData                     map[int64]bool
	recordsRead, recordsRemoved int64
	truncations                 uint64 // Log.truncations when planned
	// upperBound is the first uncleanable offset: the batch ending just
	// below it stays, emptied if need be, so that the cleaned range keeps
	// its last offset (Kafka 4.1's upperBoundOffsetOfCleaningRound).
	upperBound int64
}

// planClean picks the range and builds the key map; nil means nothing to do.
func (l *Log) planClean(upTo int64, now time.Time, maxMapEntries int) (*cleanPlan, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.writable(); err != nil {
		return nil, err
	}
	if !l.cfg.Compact {
		return nil, nil
	}
	st := l.readCleanerState()
	c, dirty, stop := l.cleanableLocked(st, upTo, now)
	if dirty >= stop {
		return nil, nil
	}
	p := &cleanPlan{state: st, truncations: l.truncations, latest: map[string]int64{}, aborted: map[int64][]AbortedTxn{},
		lastData: map[int64]int64{}, txnData: map[int64]bool{}}
	for _, s := range l.segs {
		for _, e := range s.aborted {
			p.aborted[e.ProducerID] = append(p.aborted[e.ProducerID], e)
		}
	}
	end := dirty
	for end < stop {
		if err := l.mapSegment(p, l.segs[end]); err != nil {
			return nil, err
		}
		end++
		if maxMapEntries > 0 && len(p.latest) >= maxMapEntries {
			break
		}
	}
	if err := l.scanProducers(p); err != nil {
		return nil, err
	}
	p.segs = slices.Clone(l.segs[:end])
	for _, s := range p.segs {
		p.sizes = append(p.sizes, s.size)
	}
	p.stats = CleanStats{FirstDirtyOffset: c.FirstDirtyOffset, EndOffset: max(l.segs[end].base, c.FirstDirtyOffset)}
	p.upperBound = c.FirstUncleanableOffset
	return p, nil
}

// forEachBatch reads s's batches in order; each buffer is reused.
func forEachBatch(s *segment, fn func(h records.Header, batch []byte) error) error {
	var buf []byte
	for pos := int64(0); pos < s.size; {
		h, err := s.header(pos)
		if err != nil {
			return err
		}
		if cap(buf) < h.Size() {
			buf = make([]byte, h.Size())
		}
		buf = buf[:h.Size()]
		if _, err := s.log.ReadAt(buf, pos); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("partlog: read %s at %d: %w", s.paths[0], pos, err)
		}
		if err := fn(h, buf); err != nil {
			return err
		}
		pos += int64(h.Size())
	}
	return nil
}

// isAborted reports whether a transactional data batch belongs to an
// aborted transaction.
func (p *cleanPlan) isAborted(h records.Header) bool {
	if !h.Transactional() || h.Control() || h.ProducerID < 0 {
		return false
	}
	for _, e := range p.aborted[h.ProducerID] {
		if h.BaseOffset >= e.FirstOffset && h.BaseOffset < e.LastOffset {
			return true
		}
	}
	return false
}

// mapSegment adds the keys of s's live data records to the map.
func (l *Log) mapSegment(p *cleanPlan, s *segment) error {
	return forEachBatch(s, func(h records.Header, batch []byte) error {
		if h.Control() || p.isAborted(h) {
			return nil
		}
		_, recs, err := records.Decode(batch)
		if err != nil {
			return fmt.Errorf("partlog: cleaner: %s at %d: %w", s.paths[0], h.BaseOffset, err)
		}
		for _, r := range recs {
			if r.Key != nil {
				p.latest[string(r.Key)] = h.BaseOffset + int64(r.OffsetDelta)
			}
		}
		return nil
	})
}

// scanProducers finds every producer's last data batch in the whole log.
func (l *Log) scanProducers(p *cleanPlan) error {
	for _, s := range l.segs {
		for pos := int64(0); pos < s.size; {
			h, err := s.header(pos)
			if err != nil {
				return err
			}
			if h.ProducerID >= 0 && !h.Control() {
				p.lastData[h.ProducerID] = h.LastOffset()
			}
			pos += int64(h.Size())
		}
	}
	return nil
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) < len(suffix) || s[len(s)-len(suffix):] != suffix {
		return s, false
	}
	return s[:len(s)-len(suffix)], true
}

// CleanDue measures the log (Cleanable) and says whether a pass is due
// under its own configuration: compacted, and dirty enough
// (min.cleanable.dirty.ratio) or overdue (max.compaction.lag.ms).
func (l *Log) CleanDue(upTo int64, now time.Time) (Cleanability, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed || l.failed != nil || !l.cfg.Compact {
		return Cleanability{}, false
	}
	c, _, _ := l.cleanableLocked(l.readCleanerState(), upTo, now)
	return c, c.Due(l.cfg.MinCleanableDirtyRatio)
}

// truncateCleanerState lowers the first dirty offset to offset when a
// truncation cut below it (Kafka's maybeTruncateCheckpoint): what is
// appended there again is dirty. l.mu is held.
func (l *Log) truncateCleanerState(offset int64) error {
	l.truncations++
	st := l.readCleanerState()
	if st.firstDirty <= offset {
		return nil
	}
	st.firstDirty = offset
	return l.writeCleanerState(st)
}
