package partlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/internal/vfs"
)

const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	txnIndexSuffix  = ".txnindex"
	baseDigits      = 20

	offsetEntryBytes = 8  // relative offset (4) + position (4)
	timeEntryBytes   = 12 // timestamp (8) + relative offset (4)
)

func segmentName(base int64, suffix string) string {
	return fmt.Sprintf("%0*d%s", baseDigits, base, suffix)
}

// parseSegmentName returns the base offset of a segment file name with the
// given suffix.
func parseSegmentName(name, suffix string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, suffix)
	if !ok || len(digits) != baseDigits {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	return base, err == nil
}

type offsetEntry struct {
	rel uint32 // last offset of the indexed batch, minus the segment base
	pos uint32 // file position of that batch
}

type timeEntry struct {
	ts  int64  // running max timestamp up to and including rel
	rel uint32 // offset (minus base) of the batch that reached ts
}

// segment is one .log file with its indexes. The Log's lock guards it.
type segment struct {
	base               int64
	log, index, tindex vfs.File
	paths              [3]string

	size         int64 // bytes of valid batches in the .log
	next         int64 // offset after the last batch; base when empty
	offIdx       []offsetEntry
	timeIdx      []timeEntry
	lastIndexPos int64 // position of the last indexed batch (0 if none)
	maxTs        int64 // largest batch MaxTimestamp; -1 if none
	maxTsOffset  int64 // last offset of the batch that has maxTs
	firstTs      int64 // MaxTimestamp of the first batch, for time rolls; -1 if none
	created      time.Time
	lastModified time.Time
	dirty        bool // .log has bytes not yet fsynced
	// cutInRecovery: recover dropped bad data at the end of the .log.
	cutInRecovery bool
	// preallocatedTo is where the .log's blocks reserved ahead of its end
	// (preallocate) stop.
	preallocatedTo int64

	// The aborted transaction index (.txnindex) exists only once the
	// segment holds an ABORT marker that ended a transaction.
	aborted  []AbortedTxn
	txn      vfs.File // nil until the first entry is written
	txnPath  string
	txnDirty bool
}

// openSegment opens (creating if needed; truncating if fresh) the three files of a segment.
func openSegment(fsys vfs.FS, dir string, base int64, fresh bool, now time.Time) (*segment, error) {
	s := &segment{base: base, next: base, maxTs: -1, maxTsOffset: -1, firstTs: -1, created: now, lastModified: now}
	flag := os.O_RDWR | os.O_CREATE
	if fresh {
		flag |= os.O_TRUNC
	}
	s.txnPath = filepath.Join(dir, segmentName(base, txnIndexSuffix))
	if fresh {
		if err := fsys.Remove(s.txnPath); err != nil && !vfs.IsNotExist(err) {
			return nil, err
		}
	}
	files := [3]*vfs.File{&s.log, &s.index, &s.tindex}
	for i, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		s.paths[i] = filepath.Join(dir, segmentName(base, suffix))
		f, err := fsys.OpenFile(s.paths[i], flag, 0o644)
		if err != nil {
			s.close()
			return nil, err
		}
		*files[i] = f
	}
	if !fresh {
		if fi, err := s.log.Stat(); err == nil && !fi.ModTime().IsZero() {
			s.lastModified = fi.ModTime()
		}
	}
	return s, nil
}

func (s *segment) close() error {
	var errs []error
	for _, f := range []vfs.File{s.log, s.index, s.tindex, s.txn} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	s.log, s.index, s.tindex, s.txn = nil, nil, nil, nil
	return errors.Join(errs...)
}

// remove closes the segment and deletes its files, the .log first so that a
// crash in between leaves only orphan indexes, which Open discards.
func (s *segment) remove(fsys vfs.FS) error {
	errs := []error{s.close()}
	for _, p := range append(s.paths[:], s.txnPath) {
		if err := fsys.Remove(p); err != nil && !vfs.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// largestTimestamp is what time retention compares: the largest batch
// timestamp, or the file's modification time if no batch has one (Kafka).
func (s *segment) largestTimestamp() int64 {
	if s.maxTs >= 0 {
		return s.maxTs
	}
	return s.lastModified.UnixMilli()
}

// track accounts for a batch at pos that is now part of the segment and
// returns whether it added an offset index entry and a time index entry.
func (s *segment) track(h records.Header, pos int64, indexIntervalBytes int) (newOff, newTime bool) {
	if pos == 0 {
		s.firstTs = h.MaxTimestamp
	}
	if h.MaxTimestamp > s.maxTs {
		s.maxTs, s.maxTsOffset = h.MaxTimestamp, h.LastOffset()
	}
	if pos-s.lastIndexPos > int64(indexIntervalBytes) {
		s.offIdx = append(s.offIdx, offsetEntry{rel: uint32(h.LastOffset() - s.base), pos: uint32(pos)})
		s.lastIndexPos = pos
		newOff = true
		newTime = s.maybeAppendTime()
	}
	s.size = pos + int64(h.Size())
	s.next = h.LastOffset() + 1
	return newOff, newTime
}

// maybeAppendTime records the running max timestamp if it grew since the
// last time index entry; the time index stays strictly increasing.
func (s *segment) maybeAppendTime() bool {
	if s.maxTs < 0 {
		return false
	}
	if n := len(s.timeIdx); n > 0 && s.maxTs <= s.timeIdx[n-1].ts {
		return false
	}
	s.timeIdx = append(s.timeIdx, timeEntry{ts: s.maxTs, rel: uint32(s.maxTsOffset - s.base)})
	return true
}

func encodeOffsetEntries(es []offsetEntry) []byte {
	b := make([]byte, 0, len(es)*offsetEntryBytes)
	for _, e := range es {
		b = binary.BigEndian.AppendUint32(b, e.rel)
		b = binary.BigEndian.AppendUint32(b, e.pos)
	}
	return b
}

func encodeTimeEntries(es []timeEntry) []byte {
	b := make([]byte, 0, len(es)*timeEntryBytes)
	for _, e := range es {
		b = binary.BigEndian.AppendUint64(b, uint64(e.ts))
		b = binary.BigEndian.AppendUint32(b, e.rel)
	}
	return b
}

// append writes a batch whose base offset is already s.next.
func (s *segment) append(batch []byte, h records.Header, indexIntervalBytes int, now time.Time) error {
	s.preallocate(int64(len(batch)))
	if _, err := s.log.Write(batch); err != nil {
		return err
	}
	s.dirty = true
	s.lastModified = now
	nt := len(s.timeIdx)
	newOff, newTime := s.track(h, s.size, indexIntervalBytes)
	if newOff {
		if _, err := s.index.Write(encodeOffsetEntries(s.offIdx[len(s.offIdx)-1:])); err != nil {
			return err
		}
	}
	if newTime {
		if _, err := s.tindex.Write(encodeTimeEntries(s.timeIdx[nt:])); err != nil {
			return err
		}
	}
	return nil
}

// seal finishes a segment that stops being the active one: it appends the
// final time index entry (so the largest timestamp is known without a
// scan) and fsyncs all three files.
func (s *segment) seal() error {
	if _, osFile := s.log.(syscall.Conn); osFile || s.preallocatedTo > s.size {
		// Release the blocks preallocate reserved past the end: this
		// process's, or an earlier one's that died with the segment
		// active (the size is unchanged, so only truncate frees them).
		if err := s.log.Truncate(s.size); err != nil {
			return err
		}
		s.preallocatedTo = s.size
	}
	nt := len(s.timeIdx)
	if s.maybeAppendTime() {
		if _, err := s.tindex.Write(encodeTimeEntries(s.timeIdx[nt:])); err != nil {
			return err
		}
	}
	return s.syncAll()
}

func (s *segment) syncAll() error {
	for _, f := range []vfs.File{s.log, s.index, s.tindex} {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	s.dirty = false
	return s.syncTxn()
}

// header reads the batch header at pos. Batches in a segment were validated
// on append or recovery, so failure here is an I/O error or outside damage.
func (s *segment) header(pos int64) (records.Header, error) {
	var buf [records.HeaderSize]byte
	if _, err := s.log.ReadAt(buf[:], pos); err != nil {
		return records.Header{}, fmt.Errorf("partlog: read header of %s at %d: %w", s.paths[0], pos, err)
	}
	h, err := records.ReadHeader(buf[:])
	if err != nil {
		return h, fmt.Errorf("partlog: header of %s at %d: %w", s.paths[0], pos, err)
	}
	return h, nil
}

// positionFor returns a file position at or before the batch containing
// offset: that of the last index entry whose batch ends at or before it.
func (s *segment) positionFor(offset int64) int64 {
	rel := offset - s.base
	i := sort.Search(len(s.offIdx), func(i int) bool { return int64(s.offIdx[i].rel) > rel })
	if i == 0 {
		return 0
	}
	return int64(s.offIdx[i-1].pos)
}

// offsetForTime returns an offset at or before the first batch whose max
// timestamp is >= ts: the offset of the last time index entry below it.
func (s *segment) offsetForTime(ts int64) int64 {
	i := sort.Search(len(s.timeIdx), func(i int) bool { return s.timeIdx[i].ts > ts })
	if i == 0 {
		return s.base
	}
	return s.base + int64(s.timeIdx[i-1].rel)
}

// walk validates batches from pos onwards, stopping at the end of the file
// or at the first batch that is short, fails its CRC, starts below
// expectBase (< 0 skips that check for the first batch), or would
// overflow the 4-byte relative offsets and positions of the indexes. It
// calls visit for each good batch and returns where the good data ends.
// The returned error is for I/O failures only.
func (s *segment) walk(pos, fileSize, expectBase int64, visit func(h records.Header, pos int64)) (int64, error) {
	var hdr [records.HeaderSize]byte
	var buf []byte
	for fileSize-pos >= records.HeaderSize {
		if _, err := s.log.ReadAt(hdr[:], pos); err != nil {
			return pos, err
		}
		h, err := records.ReadHeader(hdr[:])
		if err != nil || int64(h.Size()) > fileSize-pos {
			break
		}
		if expectBase >= 0 && h.BaseOffset < expectBase {
			// Offsets only grow. Gaps are legal: compaction removes whole
			// batches (Kafka's recovery accepts them too).
			break
		}
		if h.BaseOffset < s.base || h.LastOffset() < h.BaseOffset || h.LastOffset()-s.base > math.MaxInt32 || pos+int64(h.Size()) > math.MaxInt32 {
			break
		}
		if cap(buf) < h.Size() {
			buf = make([]byte, h.Size())
		}
		buf = buf[:h.Size()]
		if _, err := s.log.ReadAt(buf, pos); err != nil && !errors.Is(err, io.EOF) {
			return pos, err
		}
		if _, err := records.CheckBatch(buf); err != nil {
			break
		}
		visit(h, pos)
		pos += int64(h.Size())
		expectBase = h.LastOffset() + 1
	}
	return pos, nil
}

func fileSize(f vfs.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// recover validates the whole .log, truncates it after the last good batch
// and rebuilds both indexes from it.
func (s *segment) recover(indexIntervalBytes int) error {
	size, err := fileSize(s.log)
	if err != nil {
		return err
	}
	s.offIdx, s.timeIdx, s.lastIndexPos = nil, nil, 0
	s.maxTs, s.maxTsOffset, s.firstTs = -1, -1, -1
	s.size, s.next = 0, s.base
	end, err := s.walk(0, size, s.base, func(h records.Header, pos int64) { s.track(h, pos, indexIntervalBytes) })
	if err != nil {
		return err
	}
	if end < size {
		if err := s.log.Truncate(end); err != nil {
			return err
		}
		s.cutInRecovery = true
	}
	if _, err := s.log.Seek(end, io.SeekStart); err != nil {
		return err
	}
	s.maybeAppendTime() // like a sealed segment: the last entry is the max
	if err := rewrite(s.index, encodeOffsetEntries(s.offIdx)); err != nil {
		return err
	}
	if err := rewrite(s.tindex, encodeTimeEntries(s.timeIdx)); err != nil {
		return err
	}
	return s.syncAll()
}

func rewrite(f vfs.File, b []byte) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := f.Write(b)
	return err
}

// load opens a sealed (not last) segment cheaply: it trusts the indexes if
// they are well formed and agree with the .log, validating only the batches
// from the last index entry on. Anything amiss falls back to recover.
func (s *segment) load(indexIntervalBytes int) error {
	size, err := fileSize(s.log)
	if err != nil {
		return err
	}
	offIdx, ok := readOffsetIndex(s.index, size)
	timeIdx, tok := readTimeIndex(s.tindex)
	if !ok || !tok {
		return s.recover(indexIntervalBytes)
	}
	s.offIdx, s.timeIdx = offIdx, timeIdx
	s.lastIndexPos = 0
	expectLast := int64(-1)
	if n := len(offIdx); n > 0 {
		s.lastIndexPos = int64(offIdx[n-1].pos)
		expectLast = s.base + int64(offIdx[n-1].rel)
	}
	if n := len(timeIdx); n > 0 {
		s.maxTs, s.maxTsOffset = timeIdx[n-1].ts, s.base+int64(timeIdx[n-1].rel)
	}
	expectBase := int64(-1)
	if s.lastIndexPos == 0 {
		expectBase = s.base
	}
	consistent := true
	end, err := s.walk(s.lastIndexPos, size, expectBase, func(h records.Header, pos int64) {
		if pos == s.lastIndexPos && expectLast >= 0 && h.LastOffset() != expectLast {
			consistent = false
		}
		if h.MaxTimestamp > s.maxTs {
			s.maxTs, s.maxTsOffset = h.MaxTimestamp, h.LastOffset()
		}
		s.next = h.LastOffset() + 1
	})
	if err != nil {
		return err
	}
	if !consistent || end < size || (len(timeIdx) > 0 && s.maxTsOffset >= s.next) {
		return s.recover(indexIntervalBytes)
	}
	s.size = end
	if _, err := s.log.Seek(end, io.SeekStart); err != nil {
		return err
	}
	if _, err := s.index.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	_, err = s.tindex.Seek(0, io.SeekEnd)
	return err
}

func readAllAt(f vfs.File) ([]byte, bool) {
	size, err := fileSize(f)
	if err != nil || size > math.MaxInt32 {
		return nil, false
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, false
	}
	return b, true
}

// readOffsetIndex parses an offset index and checks it is sane for a .log
// of logSize bytes: whole entries, offsets and positions strictly rising.
func readOffsetIndex(f vfs.File, logSize int64) ([]offsetEntry, bool) {
	b, ok := readAllAt(f)
	if !ok || len(b)%offsetEntryBytes != 0 {
		return nil, false
	}
	es := make([]offsetEntry, 0, len(b)/offsetEntryBytes)
	for i := 0; i < len(b); i += offsetEntryBytes {
		e := offsetEntry{rel: binary.BigEndian.Uint32(b[i:]), pos: binary.BigEndian.Uint32(b[i+4:])}
		if int64(e.pos) >= logSize || e.pos == 0 || e.rel > math.MaxInt32 {
			return nil, false
		}
		if n := len(es); n > 0 && (e.rel <= es[n-1].rel || e.pos <= es[n-1].pos) {
			return nil, false
		}
		es = append(es, e)
	}
	return es, true
}

// readTimeIndex parses a time index: whole entries, timestamps strictly
// rising, offsets not falling.
func readTimeIndex(f vfs.File) ([]timeEntry, bool) {
	b, ok := readAllAt(f)
	if !ok || len(b)%timeEntryBytes != 0 {
		return nil, false
	}
	es := make([]timeEntry, 0, len(b)/timeEntryBytes)
	for i := 0; i < len(b); i += timeEntryBytes {
		e := timeEntry{ts: int64(binary.BigEndian.Uint64(b[i:])), rel: binary.BigEndian.Uint32(b[i+8:])}
		if e.ts < 0 || e.rel > math.MaxInt32 {
			return nil, false
		}
		if n := len(es); n > 0 && (e.ts <= es[n-1].ts || e.rel < es[n-1].rel) {
			return nil, false
		}
		es = append(es, e)
	}
	return es, true
}

// truncateAt drops the batch containing offset and everything after it,
// then rebuilds the indexes from what is left.
func (s *segment) truncateAt(offset int64, indexIntervalBytes int) error {
	pos := s.positionFor(offset)
	for pos < s.size {
		h, err := s.header(pos)
		if err != nil {
			return err
		}
		if h.LastOffset() >= offset {
			break
		}
		pos += int64(h.Size())
	}
	if err := s.log.Truncate(pos); err != nil {
		return err
	}
	return s.recover(indexIntervalBytes)
}

// preallocChunkBytes is how far ahead of the .log's end preallocate
// reserves blocks; preallocHotBytes is how much a segment must already
// hold before it does, so that only busy partitions reserve space (a
// broker with thousands of quiet partitions would otherwise hold 64 MiB
// of disk for each).
const (
	preallocChunkBytes = 64 << 20
	preallocHotBytes   = 8 << 20
)

// preallocate reserves the .log's blocks ahead of its end
// (fallocate FALLOC_FL_KEEP_SIZE: the file's size, and so recovery, are
// unchanged), a chunk at a time, so appends write into allocated space.
// With delayed allocation instead, the kernel allocates blocks while it
// writes the pages back, holding the file's block-map lock, and an append
// to the same file waits for that (measured: write calls stalled tens of
// milliseconds once background writeback began).
func (s *segment) preallocate(n int64) {
	if s.size < preallocHotBytes || s.size+n <= s.preallocatedTo {
		return
	}
	sc, ok := s.log.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	from := max(s.size, s.preallocatedTo)
	length := max(int64(preallocChunkBytes), n)
	_ = rc.Control(func(fd uintptr) {
		if fallocateKeepSize(fd, from, length) == nil {
			s.preallocatedTo = from + length
		} else {
			s.preallocatedTo = math.MaxInt64 // unsupported: stop trying
		}
	})
}
