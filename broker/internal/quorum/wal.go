package quorum

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path"
	"strconv"
	"strings"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/highwater-io/highwater/internal/vfs"
)

// WAL layout. The directory holds segments named %016x.wal by sequence
// number. A segment is created whole and atomically (temporary file, fsync,
// rename) and opens with a base record and a hard-state record followed by
// every log entry after the base: each segment is a complete checkpoint of
// the raft log, so only the newest one is ever read and older ones are
// garbage left by a crash between the rename and their removal. After its
// creation a segment only grows by appends; a crash can tear the appended
// tail, which recovery cuts off.
//
// Record: u32 length of (type+payload), u32 CRC-32C of (type+payload), type
// byte, payload. All integers big-endian.
const (
	recBase      byte = 1 // payload: u64 index, u64 term — the log starts after it
	recHardState byte = 2 // payload: protobuf raftpb.HardState
	recEntry     byte = 3 // payload: protobuf raftpb.Entry; truncates the log from its index

	recHeaderBytes = 8
	// maxRecordBytes bounds one record, so that a torn length field cannot
	// make recovery allocate gigabytes.
	maxRecordBytes = 256 << 20

	walSuffix = ".wal"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// walState is what a WAL segment describes.
type walState struct {
	baseIndex, baseTerm uint64
	hardState           *pb.HardState // nil if none was recorded
	entries             []*pb.Entry   // contiguous from baseIndex+1
}

func (s *walState) lastIndex() uint64 { return s.baseIndex + uint64(len(s.entries)) }

// wal appends records to the newest segment.
type wal struct {
	fs  vfs.FS
	dir string
	seq uint64
	f   vfs.File
	buf []byte
}

func appendRecord(buf []byte, typ byte, payload []byte) []byte {
	var hdr [recHeaderBytes + 1]byte
	binary.BigEndian.PutUint32(hdr[0:4], uint32(1+len(payload)))
	crc := crc32.Update(0, crcTable, []byte{typ})
	crc = crc32.Update(crc, crcTable, payload)
	binary.BigEndian.PutUint32(hdr[4:8], crc)
	hdr[8] = typ
	buf = append(buf, hdr[:]...)
	return append(buf, payload...)
}

func appendProto(buf []byte, typ byte, m proto.Message) ([]byte, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return buf, err
	}
	return appendRecord(buf, typ, b), nil
}

func encodeBase(index, term uint64) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], index)
	binary.BigEndian.PutUint64(b[8:16], term)
	return b[:]
}

// errTorn marks a record that is incomplete or fails its checksum: at the
// tail of the newest segment that is an interrupted write, anywhere else
// corruption.
var errTorn = errors.New("torn record")

// decodeSegment replays a segment's records. It returns the state and the
// length of the valid prefix; err is errTorn (wrapped) if bytes after that
// prefix do not form a valid record, another error if a valid record makes
// no sense.
func decodeSegment(data []byte) (st walState, valid int, err error) {
	off := 0
	first := true
	for off < len(data) {
		if len(data)-off < recHeaderBytes+1 {
			return st, off, fmt.Errorf("%w: short header at %d", errTorn, off)
		}
		n := int(binary.BigEndian.Uint32(data[off : off+4]))
		if n < 1 || n > maxRecordBytes || n > len(data)-off-recHeaderBytes {
			return st, off, fmt.Errorf("%w: bad length %d at %d", errTorn, n, off)
		}
		body := data[off+recHeaderBytes : off+recHeaderBytes+n]
		if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(data[off+4:off+8]) {
			return st, off, fmt.Errorf("%w: checksum mismatch at %d", errTorn, off)
		}
		if first && body[0] != recBase {
			return st, off, fmt.Errorf("%w: segment does not open with a base record", ErrCorrupt)
		}
		if err := st.apply(body[0], body[1:], first); err != nil {
			return st, off, fmt.Errorf("%w: record at %d: %w", ErrCorrupt, off, err)
		}
		first = false
		off += recHeaderBytes + n
	}
	if first {
		return st, 0, fmt.Errorf("%w: empty segment", errTorn)
	}
	return st, off, nil
}

func (st *walState) apply(typ byte, payload []byte, first bool) error {
	switch typ {
	case recBase:
		if !first || len(payload) != 16 {
			return errors.New("misplaced or malformed base record")
		}
		st.baseIndex = binary.BigEndian.Uint64(payload[0:8])
		st.baseTerm = binary.BigEndian.Uint64(payload[8:16])
	case recHardState:
		hs := &pb.HardState{}
		if err := proto.Unmarshal(payload, hs); err != nil {
			return err
		}
		st.hardState = hs
	case recEntry:
		e := &pb.Entry{}
		if err := proto.Unmarshal(payload, e); err != nil {
			return err
		}
		i := e.GetIndex()
		switch {
		case i <= st.baseIndex:
			return fmt.Errorf("entry %d at or below base %d", i, st.baseIndex)
		case i > st.lastIndex()+1:
			return fmt.Errorf("entry %d leaves a gap after %d", i, st.lastIndex())
		}
		// Raft rewrites a conflicting suffix by appending from the first
		// conflicting index: everything from i on is replaced.
		st.entries = append(st.entries[:i-st.baseIndex-1], e)
	default:
		return fmt.Errorf("unknown record type %d", typ)
	}
	return nil
}

func segmentName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, walSuffix) }

// listSegments returns the segment sequence numbers in dir, ascending, and
// the names of leftover temporary files.
func listSegments(fsys vfs.FS, dir string) (seqs []uint64, junk []string, err error) {
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, name := range names {
		if !strings.HasSuffix(name, walSuffix) {
			junk = append(junk, name)
			continue
		}
		seq, perr := strconv.ParseUint(strings.TrimSuffix(name, walSuffix), 16, 64)
		if perr != nil {
			junk = append(junk, name)
			continue
		}
		seqs = append(seqs, seq)
	}
	return seqs, junk, nil
}

// openWAL recovers the newest segment of dir, cutting off a torn tail, and
// opens it for appending. An empty directory yields an empty state with a
// fresh segment.
func openWAL(fsys vfs.FS, dir string) (*wal, walState, error) {
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, walState{}, err
	}
	seqs, junk, err := listSegments(fsys, dir)
	if err != nil {
		return nil, walState{}, err
	}
	w := &wal{fs: fsys, dir: dir}
	if len(seqs) == 0 {
		st := walState{}
		if err := w.reset(st.baseIndex, st.baseTerm, nil, nil); err != nil {
			return nil, walState{}, err
		}
		return w, st, nil
	}
	w.seq = seqs[len(seqs)-1]
	name := path.Join(dir, segmentName(w.seq))
	data, err := vfs.ReadFile(fsys, name)
	if err != nil {
		return nil, walState{}, err
	}
	st, valid, derr := decodeSegment(data)
	if derr != nil && (!errors.Is(derr, errTorn) || valid == 0) {
		// Segments are created atomically, so the opening records are
		// always there; losing them is corruption, not a torn write.
		return nil, walState{}, fmt.Errorf("%w: %s: %w", ErrCorrupt, name, derr)
	}
	f, err := fsys.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, walState{}, err
	}
	if valid < len(data) {
		if err := f.Truncate(int64(valid)); err != nil {
			_ = f.Close()
			return nil, walState{}, err
		}
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return nil, walState{}, err
		}
	}
	if _, err := f.Seek(int64(valid), 0); err != nil {
		_ = f.Close()
		return nil, walState{}, err
	}
	w.f = f
	for _, s := range seqs[:len(seqs)-1] {
		junk = append(junk, segmentName(s))
	}
	if err := w.removeJunk(junk); err != nil {
		_ = f.Close()
		return nil, walState{}, err
	}
	return w, st, nil
}

func (w *wal) removeJunk(names []string) error {
	for _, name := range names {
		if err := w.fs.Remove(path.Join(w.dir, name)); err != nil && !vfs.IsNotExist(err) {
			return err
		}
	}
	if len(names) > 0 {
		return vfs.SyncDir(w.fs, w.dir)
	}
	return nil
}

// save appends entries and then the hard state (if not nil) in one write,
// and fsyncs when sync is set.
func (w *wal) save(hs *pb.HardState, ents []*pb.Entry, sync bool) error {
	buf := w.buf[:0]
	var err error
	for _, e := range ents {
		if buf, err = appendProto(buf, recEntry, e); err != nil {
			return err
		}
	}
	if hs != nil {
		if buf, err = appendProto(buf, recHardState, hs); err != nil {
			return err
		}
	}
	w.buf = buf
	if len(buf) > 0 {
		if _, err := w.f.Write(buf); err != nil {
			return err
		}
	}
	if sync && (len(buf) > 0) {
		return w.f.Sync()
	}
	return nil
}

// reset starts a new segment holding the base, the hard state and ents, and
// removes the older ones. Used after compaction and when a snapshot from the
// leader replaces the log.
func (w *wal) reset(baseIndex, baseTerm uint64, hs *pb.HardState, ents []*pb.Entry) error {
	buf := appendRecord(nil, recBase, encodeBase(baseIndex, baseTerm))
	var err error
	if hs != nil {
		if buf, err = appendProto(buf, recHardState, hs); err != nil {
			return err
		}
	}
	for _, e := range ents {
		if buf, err = appendProto(buf, recEntry, e); err != nil {
			return err
		}
	}
	next := w.seq + 1
	name := path.Join(w.dir, segmentName(next))
	// WriteFileAtomic writes name+".tmp", which listSegments treats as junk.
	if err := vfs.WriteFileAtomic(w.fs, name, buf, 0o644); err != nil {
		return err
	}
	f, err := w.fs.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if w.f != nil {
		_ = w.f.Close()
	}
	old := w.seq
	hadOld := w.f != nil
	w.f, w.seq = f, next
	if hadOld {
		return w.removeJunk([]string{segmentName(old)})
	}
	return nil
}

func (w *wal) close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
