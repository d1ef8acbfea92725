package quorum

import (
	"errors"
	"fmt"
	"math/rand"
	"path"
	"slices"
	"testing"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/highwater-io/highwater/internal/vfs"
)

func ent(index, term uint64, data string) *pb.Entry {
	return &pb.Entry{Index: new(index), Term: new(term), Type: pb.EntryNormal.Enum(), Data: []byte(data)}
}

func hardState(term, vote, commit uint64) *pb.HardState {
	return &pb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

// modelState is the WAL's meaning, tracked independently of its decoder.
type modelState struct {
	ents []string // "index/term/data", from index 1
	hs   string
}

func (m modelState) clone() modelState {
	return modelState{ents: slices.Clone(m.ents), hs: m.hs}
}

func describe(st walState) modelState {
	m := modelState{}
	for _, e := range st.entries {
		m.ents = append(m.ents, fmt.Sprintf("%d/%d/%s", e.GetIndex(), e.GetTerm(), e.GetData()))
	}
	if st.hardState != nil {
		m.hs = fmt.Sprintf("%d/%d/%d", st.hardState.GetTerm(), st.hardState.GetVote(), st.hardState.GetCommit())
	}
	return m
}

// TestWALTornTailRecovery: after a crash that keeps a random prefix of the
// unsynced bytes, the WAL recovers without error to the state after some
// whole record written since the last fsync — never less than what was
// synced, never a partial record — and keeps working afterwards.
func TestWALTornTailRecovery(t *testing.T) {
	for seed := int64(0); seed < 300; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { walCrashRound(t, seed) })
	}
}

func walCrashRound(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	fs := vfs.NewMem()
	w, st, err := openWAL(fs, "/wal")
	if err != nil {
		t.Fatal(err)
	}
	model := describe(st)
	// states[k] is the state after the k-th record written since the
	// segment opened; syncedAt the number of records covered by a Sync.
	states := []modelState{model.clone()}
	syncedAt := 0
	term := uint64(1)
	for batch := 0; batch < 1+rng.Intn(12); batch++ {
		last := uint64(len(model.ents))
		from := last + 1
		if last > 0 && rng.Intn(4) == 0 {
			from = 1 + uint64(rng.Intn(int(last))) // overwrite a suffix
			term++
		}
		var ents []*pb.Entry
		for i := range 1 + rng.Intn(5) {
			idx := from + uint64(i)
			data := fmt.Sprintf("s%d-b%d-%d", seed, batch, i)
			if rng.Intn(5) == 0 {
				data += string(make([]byte, rng.Intn(3000))) // records spanning pages
			}
			ents = append(ents, ent(idx, term, data))
		}
		var hs *pb.HardState
		if rng.Intn(2) == 0 {
			hs = hardState(term, 1, from-1)
		}
		sync := rng.Intn(3) == 0
		if err := w.save(hs, ents, sync); err != nil {
			t.Fatal(err)
		}
		model.ents = model.ents[:from-1]
		for _, e := range ents {
			model.ents = append(model.ents, fmt.Sprintf("%d/%d/%s", e.GetIndex(), e.GetTerm(), e.GetData()))
			states = append(states, model.clone())
		}
		if hs != nil {
			model.hs = fmt.Sprintf("%d/%d/%d", hs.GetTerm(), hs.GetVote(), hs.GetCommit())
			states = append(states, model.clone())
		}
		if sync {
			syncedAt = len(states) - 1
		}
	}
	crashed := fs.CrashPartial(rng)
	_ = w.close()
	w2, st2, err := openWAL(crashed, "/wal")
	if err != nil {
		t.Fatalf("recovery failed: %v", err)
	}
	got := describe(st2)
	k := slices.IndexFunc(states, func(m modelState) bool {
		return slices.Equal(m.ents, got.ents) && m.hs == got.hs
	})
	if k < 0 {
		t.Fatalf("recovered state %v matches no record boundary", got)
	}
	if k < syncedAt {
		t.Fatalf("recovered state %d records in, but %d were synced", k, syncedAt)
	}
	// The cut tail must leave a file that appends cleanly.
	next := uint64(len(got.ents)) + 1
	if err := w2.save(hardState(term+1, 2, 0), []*pb.Entry{ent(next, term+1, "after")}, true); err != nil {
		t.Fatal(err)
	}
	_ = w2.close()
	w3, st3, err := openWAL(crashed.Crash(), "/wal")
	if err != nil {
		t.Fatalf("second recovery: %v", err)
	}
	defer w3.close()
	if n := len(st3.entries); n != int(next) || string(st3.entries[n-1].GetData()) != "after" {
		t.Fatalf("entry appended after recovery lost: %d entries", n)
	}
}

func TestWALResetKeepsOnlyNewSegment(t *testing.T) {
	fs := vfs.NewMem()
	w, _, err := openWAL(fs, "/wal")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.save(hardState(1, 1, 3), []*pb.Entry{ent(1, 1, "a"), ent(2, 1, "b"), ent(3, 1, "c")}, true); err != nil {
		t.Fatal(err)
	}
	if err := w.reset(2, 1, hardState(1, 1, 3), []*pb.Entry{ent(3, 1, "c")}); err != nil {
		t.Fatal(err)
	}
	_ = w.close()
	segs, _, _ := listSegments(fs, "/wal")
	if len(segs) != 1 {
		t.Fatalf("segments %v, want one", segs)
	}
	_, st, err := openWAL(fs.Crash(), "/wal")
	if err != nil {
		t.Fatal(err)
	}
	if st.baseIndex != 2 || st.baseTerm != 1 || len(st.entries) != 1 || st.hardState.GetCommit() != 3 {
		t.Fatalf("after reset: base %d/%d, %d entries, commit %d", st.baseIndex, st.baseTerm, len(st.entries), st.hardState.GetCommit())
	}
}

func TestWALCorruptOpeningIsError(t *testing.T) {
	fs := vfs.NewMem()
	w, _, err := openWAL(fs, "/wal")
	if err != nil {
		t.Fatal(err)
	}
	_ = w.close()
	name := path.Join("/wal", segmentName(1))
	if err := vfs.WriteFileAtomic(fs, name, []byte("garbage that is not a record"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := openWAL(fs, "/wal"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open over a damaged segment start: %v, want ErrCorrupt", err)
	}
}

// TestRestoreSnapshotNewerThanWAL covers a crash between saving a
// leader's snapshot and rewriting the WAL.
func TestRestoreSnapshotNewerThanWAL(t *testing.T) {
	peers := []Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	wal := walState{hardState: hardState(2, 1, 4)}
	for i := uint64(1); i <= 8; i++ {
		term := uint64(1)
		if i >= 5 {
			term = 2
		}
		wal.entries = append(wal.entries, ent(i, term, fmt.Sprint(i)))
	}
	for _, tc := range []struct {
		name                string
		snapTerm            uint64
		wantFirst, wantLast uint64
	}{
		{"log agrees with snapshot: keep the suffix", 2, 6, 8},
		{"log disagrees: drop it", 3, 6, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &storage{mem: newMemStorage(), confState: voterConfState(peers)}
			snap := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: new(uint64(5)), Term: new(tc.snapTerm)}}
			rec, err := s.restore(snap, wal)
			if err != nil {
				t.Fatal(err)
			}
			first, _ := s.mem.FirstIndex()
			last, _ := s.mem.LastIndex()
			if first != tc.wantFirst || last != tc.wantLast {
				t.Fatalf("log [%d, %d], want [%d, %d]", first, last, tc.wantFirst, tc.wantLast)
			}
			if rec.hardState.GetCommit() != 5 {
				t.Fatalf("commit %d, want the snapshot index 5", rec.hardState.GetCommit())
			}
		})
	}
	s := &storage{mem: newMemStorage(), confState: voterConfState(peers)}
	compacted := walState{baseIndex: 7, baseTerm: 2}
	if _, err := s.restore(nil, compacted); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("compacted log without snapshot: %v, want ErrCorrupt", err)
	}
}

func TestSnapshotFallsBackWhenNewestDamaged(t *testing.T) {
	fs := vfs.NewMem()
	s := snapshotter{fs: fs, dir: "/snap"}
	if _, err := s.load(); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 3; i++ {
		snap := &pb.Snapshot{Data: []byte{byte(i)}, Metadata: &pb.SnapshotMetadata{Index: new(i * 10), Term: new(uint64(1))}}
		if err := s.save(snap); err != nil {
			t.Fatal(err)
		}
	}
	names, _ := s.list()
	if len(names) != snapKeep {
		t.Fatalf("kept %v, want %d files", names, snapKeep)
	}
	if err := vfs.WriteFileAtomic(fs, path.Join("/snap", names[len(names)-1]), []byte("junk!"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := s.load()
	if err != nil || got.GetMetadata().GetIndex() != 20 {
		t.Fatalf("load = %v, %v; want the snapshot at 20", got.GetMetadata().GetIndex(), err)
	}
}

func FuzzDecodeSegment(f *testing.F) {
	buf := appendRecord(nil, recBase, encodeBase(3, 1))
	buf, _ = appendProto(buf, recHardState, hardState(2, 1, 4))
	buf, _ = appendProto(buf, recEntry, ent(4, 1, "x"))
	buf, _ = appendProto(buf, recEntry, ent(4, 2, "y"))
	f.Add(buf)
	f.Add(buf[:len(buf)-3])
	f.Add([]byte{})
	f.Add(appendRecord(nil, recEntry, []byte{0xff}))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, valid, err := decodeSegment(data)
		if valid < 0 || valid > len(data) {
			t.Fatalf("valid prefix %d of %d bytes", valid, len(data))
		}
		if err == nil && valid != len(data) {
			t.Fatalf("no error but only %d of %d bytes valid", valid, len(data))
		}
		if uint64(len(st.entries)) != st.lastIndex()-st.baseIndex {
			t.Fatal("entries not contiguous")
		}
		for i, e := range st.entries {
			if e.GetIndex() != st.baseIndex+uint64(i)+1 {
				t.Fatalf("entry %d has index %d", i, e.GetIndex())
			}
		}
	})
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(encodeEnvelope(1, 2, []byte("payload")))
	f.Add([]byte{1, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := decodeEnvelope(data)
		if err != nil {
			return
		}
		again := encodeEnvelope(env.proposer, env.seq, env.payload)
		if back, err := decodeEnvelope(again); err != nil || back.proposer != env.proposer ||
			back.seq != env.seq || string(back.payload) != string(env.payload) {
			t.Fatalf("round trip changed %+v", env)
		}
	})
}

func newMemStorage() *raft.MemoryStorage { return raft.NewMemoryStorage() }
