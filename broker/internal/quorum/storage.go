package quorum

import (
	"fmt"
	"path"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/highwater-io/highwater/internal/vfs"
)

// storage is the durable raft state: a WAL and snapshot files on disk, with
// etcd raft's MemoryStorage as the in-memory copy raft reads from. Every
// change is written (and, where raft requires, fsynced) to disk before it is
// put into the MemoryStorage, so the MemoryStorage never holds anything a
// crash could lose. Owned by the node goroutine.
type storage struct {
	mem   *raft.MemoryStorage
	wal   *wal
	snaps snapshotter
	// confState is the static voter set; every snapshot carries it.
	confState *pb.ConfState
	// snapIndex is the index of the newest snapshot on disk (0: none).
	snapIndex uint64
}

// recovered is what openStorage found on disk.
type recovered struct {
	snapshot  *pb.Snapshot // nil if none
	hardState *pb.HardState
	lastIndex uint64
}

func voterConfState(peers []Peer) *pb.ConfState {
	cs := &pb.ConfState{}
	for _, p := range peers {
		cs.Voters = append(cs.Voters, p.ID)
	}
	return pb.EnsureConfState(cs)
}

// openStorage recovers the raft state from dir. A fresh directory yields a
// log that is empty but knows the voters, which is how a static cluster
// bootstraps without configuration-change entries.
func openStorage(fsys vfs.FS, dir string, peers []Peer) (*storage, recovered, error) {
	s := &storage{
		mem:       raft.NewMemoryStorage(),
		snaps:     snapshotter{fs: fsys, dir: path.Join(dir, "snap")},
		confState: voterConfState(peers),
	}
	snap, err := s.snaps.load()
	if err != nil {
		return nil, recovered{}, err
	}
	w, st, err := openWAL(fsys, path.Join(dir, "wal"))
	if err != nil {
		return nil, recovered{}, err
	}
	s.wal = w
	rec, err := s.restore(snap, st)
	if err != nil {
		_ = w.close()
		return nil, recovered{}, err
	}
	return s, rec, nil
}

// restore loads the snapshot and the WAL state into the MemoryStorage.
func (s *storage) restore(snap *pb.Snapshot, st walState) (recovered, error) {
	var snapIndex, snapTerm uint64
	if snap != nil {
		snapIndex, snapTerm = snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm()
	}
	if snapIndex < st.baseIndex {
		return recovered{}, fmt.Errorf("%w: log compacted to %d but newest snapshot is at %d",
			ErrCorrupt, st.baseIndex, snapIndex)
	}
	ents := st.entries
	if snapIndex > st.baseIndex {
		// The snapshot is newer than the WAL's base: a crash came between
		// saving it and rewriting the WAL. Entries it covers go; entries
		// after it stay only if the log agrees with it at its index (Log
		// Matching), since otherwise they are a stale, uncommitted suffix
		// the leader's snapshot superseded.
		if snapIndex <= st.lastIndex() && ents[snapIndex-st.baseIndex-1].GetTerm() == snapTerm {
			ents = ents[snapIndex-st.baseIndex:]
		} else {
			ents = nil
		}
	}
	base := snap
	if base == nil {
		base = &pb.Snapshot{Metadata: &pb.SnapshotMetadata{}}
	}
	// Membership is static: the voters always come from the config.
	boot := &pb.Snapshot{
		Data: base.Data,
		Metadata: &pb.SnapshotMetadata{
			Index: new(snapIndex), Term: new(snapTerm), ConfState: s.confState,
		},
	}
	if err := s.mem.ApplySnapshot(boot); err != nil {
		return recovered{}, err
	}
	if err := s.mem.Append(ents); err != nil {
		return recovered{}, err
	}
	last := snapIndex + uint64(len(ents))
	hs := st.hardState
	if hs == nil {
		hs = &pb.HardState{}
	}
	hs = &pb.HardState{Term: new(hs.GetTerm()), Vote: new(hs.GetVote()), Commit: new(hs.GetCommit())}
	// A commit index is fsynced lazily (raft does not require it), so the
	// one on disk may trail a snapshot of applied state; the snapshot itself
	// proves its index committed.
	if hs.GetCommit() < snapIndex {
		hs.Commit = new(snapIndex)
	}
	if hs.GetCommit() > last {
		return recovered{}, fmt.Errorf("%w: commit index %d beyond last log index %d",
			ErrCorrupt, hs.GetCommit(), last)
	}
	if hs.GetTerm() < snapTerm {
		hs.Term = new(snapTerm)
	}
	if err := s.mem.SetHardState(hs); err != nil {
		return recovered{}, err
	}
	s.snapIndex = snapIndex
	return recovered{snapshot: snap, hardState: hs, lastIndex: last}, nil
}

// saveReady persists what a Ready asks for, in the order raft requires, and
// then mirrors it into the MemoryStorage.
func (s *storage) saveReady(rd *raft.Ready) error {
	if !raft.IsEmptySnap(rd.Snapshot) {
		return s.saveIncomingSnapshot(rd)
	}
	if err := s.wal.save(rd.HardState, rd.Entries, rd.MustSync); err != nil {
		return err
	}
	if err := s.mem.Append(rd.Entries); err != nil {
		return err
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		return s.mem.SetHardState(rd.HardState)
	}
	return nil
}

// saveIncomingSnapshot handles a Ready carrying a snapshot from the leader:
// snapshot file first, then a WAL that starts at it, then memory.
func (s *storage) saveIncomingSnapshot(rd *raft.Ready) error {
	snap := rd.Snapshot
	if err := s.snaps.save(snap); err != nil {
		return err
	}
	hs := rd.HardState
	if raft.IsEmptyHardState(hs) {
		hs, _, _ = s.mem.InitialState()
	}
	md := snap.GetMetadata()
	if err := s.wal.reset(md.GetIndex(), md.GetTerm(), hs, rd.Entries); err != nil {
		return err
	}
	if err := s.mem.ApplySnapshot(snap); err != nil {
		return err
	}
	if err := s.mem.Append(rd.Entries); err != nil {
		return err
	}
	s.snapIndex = md.GetIndex()
	return s.mem.SetHardState(hs)
}

// snapshotAndCompact records data as the state at applied, then drops the
// log before applied-catchUp from memory and disk.
func (s *storage) snapshotAndCompact(applied, catchUp uint64, data []byte) error {
	snap, err := s.mem.CreateSnapshot(applied, s.confState, data)
	if err != nil {
		return err
	}
	if err := s.snaps.save(snap); err != nil {
		return err
	}
	s.snapIndex = applied
	first, err := s.mem.FirstIndex()
	if err != nil {
		return err
	}
	compact := applied
	if catchUp < applied {
		compact = applied - catchUp
	} else {
		compact = 0
	}
	if compact >= first {
		if err := s.mem.Compact(compact); err != nil {
			return err
		}
	}
	return s.rewriteWAL()
}

// rewriteWAL writes a new WAL segment holding exactly the MemoryStorage's
// log, dropping the space of compacted and overwritten entries.
func (s *storage) rewriteWAL() error {
	first, err := s.mem.FirstIndex()
	if err != nil {
		return err
	}
	last, err := s.mem.LastIndex()
	if err != nil {
		return err
	}
	baseTerm, err := s.mem.Term(first - 1)
	if err != nil {
		return err
	}
	var ents []*pb.Entry
	if last >= first {
		if ents, err = s.mem.Entries(first, last+1, ^uint64(0)); err != nil {
			return err
		}
	}
	hs, _, err := s.mem.InitialState()
	if err != nil {
		return err
	}
	return s.wal.reset(first-1, baseTerm, hs, ents)
}

func (s *storage) close() error { return s.wal.close() }
