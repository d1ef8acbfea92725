package quorum

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"path"
	"sort"
	"strings"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/highwater-io/highwater/internal/vfs"
)

// Snapshot files: snap/%016x-%016x.snap (index-term, so names sort by
// index), each a u32 CRC-32C followed by the protobuf raftpb.Snapshot. They
// are written atomically; the newest that reads back intact wins, and the
// two newest are kept so that a damaged newest one has a fallback.
const (
	snapSuffix = ".snap"
	snapKeep   = 2
)

func snapName(index, term uint64) string {
	return fmt.Sprintf("%016x-%016x%s", index, term, snapSuffix)
}

func encodeSnapshot(s *pb.Snapshot) ([]byte, error) {
	body, err := proto.Marshal(s)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(out, crc32.Checksum(body, crcTable))
	return append(out, body...), nil
}

func decodeSnapshot(data []byte) (*pb.Snapshot, error) {
	if len(data) < 4 {
		return nil, fmt.Errorf("%w: snapshot file too short", ErrCorrupt)
	}
	body := data[4:]
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(data[:4]) {
		return nil, fmt.Errorf("%w: snapshot checksum mismatch", ErrCorrupt)
	}
	s := &pb.Snapshot{}
	if err := proto.Unmarshal(body, s); err != nil {
		return nil, fmt.Errorf("%w: snapshot: %w", ErrCorrupt, err)
	}
	return s, nil
}

// snapshotter reads and writes the snapshot directory.
type snapshotter struct {
	fs  vfs.FS
	dir string
}

func (s snapshotter) list() ([]string, error) {
	names, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var snaps []string
	for _, n := range names {
		if strings.HasSuffix(n, snapSuffix) {
			snaps = append(snaps, n)
		}
	}
	sort.Strings(snaps)
	return snaps, nil
}

// load returns the newest intact snapshot, or nil if there is none.
func (s snapshotter) load() (*pb.Snapshot, error) {
	if err := s.fs.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	names, err := s.list()
	if err != nil {
		return nil, err
	}
	for i := len(names) - 1; i >= 0; i-- {
		data, err := vfs.ReadFile(s.fs, path.Join(s.dir, names[i]))
		if err != nil {
			return nil, err
		}
		snap, err := decodeSnapshot(data)
		if err != nil {
			continue // fall back to the previous one
		}
		if name := snapName(snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm()); name != names[i] {
			continue // a file renamed by hand or damaged in a way the CRC missed
		}
		return snap, nil
	}
	return nil, nil
}

// save writes snap atomically and prunes all but the newest snapKeep files
// (and leftover temporaries).
func (s snapshotter) save(snap *pb.Snapshot) error {
	data, err := encodeSnapshot(snap)
	if err != nil {
		return err
	}
	md := snap.GetMetadata()
	if err := vfs.WriteFileAtomic(s.fs, path.Join(s.dir, snapName(md.GetIndex(), md.GetTerm())), data, 0o644); err != nil {
		return err
	}
	names, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return err
	}
	snaps, err := s.list()
	if err != nil {
		return err
	}
	var junk []string
	for _, n := range names {
		if !strings.HasSuffix(n, snapSuffix) {
			junk = append(junk, n)
		}
	}
	if len(snaps) > snapKeep {
		junk = append(junk, snaps[:len(snaps)-snapKeep]...)
	}
	for _, n := range junk {
		if err := s.fs.Remove(path.Join(s.dir, n)); err != nil && !vfs.IsNotExist(err) {
			return err
		}
	}
	if len(junk) > 0 {
		return vfs.SyncDir(s.fs, s.dir)
	}
	return nil
}
