package producers

import (
	"bytes"
	"errors"
	"testing"

	"pgregory.net/rapid"
)

// randomState appends in-sequence batches for a few producers, with epoch
// bumps, and returns the state and the log end offset.
func randomState(t *rapid.T) (*State, int64) {
	s := New(DefaultConfig())
	var next int64
	seqs := map[int64]int32{}
	epochs := map[int64]int16{}
	n := rapid.IntRange(0, 30).Draw(t, "batches")
	for i := 0; i < n; i++ {
		pid := rapid.Int64Range(0, 5).Draw(t, "pid")
		if rapid.IntRange(0, 9).Draw(t, "bump") == 0 {
			epochs[pid]++
			seqs[pid] = 0
		}
		count := rapid.Int32Range(1, 5).Draw(t, "count")
		s.Update(Batch{ProducerID: pid, ProducerEpoch: epochs[pid], BaseSequence: seqs[pid], LastOffsetDelta: count - 1,
			MaxTimestampMs: int64(1000 + i), BaseOffset: next}, int64(1000+i))
		seqs[pid] += count
		next += int64(count)
	}
	return s, next
}

// Property: a snapshot restores to a state that encodes to the same bytes
// and answers the same duplicates.
func TestSnapshotRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s, end := randomState(t)
		snap := s.Snapshot(end)
		r := New(DefaultConfig())
		off, err := r.Restore(snap, 2000)
		if err != nil || off != end {
			t.Fatalf("restore: offset %d (want %d), %v", off, end, err)
		}
		if again := r.Snapshot(end); !bytes.Equal(again, snap) {
			t.Fatalf("restored state encodes differently")
		}
		for id, p := range s.producers {
			for _, b := range p.Batches {
				res, err := r.Check(Batch{ProducerID: id, ProducerEpoch: p.Epoch, BaseSequence: b.FirstSequence,
					LastOffsetDelta: int32(b.LastOffset - b.FirstOffset), MaxTimestampMs: 2000}, 2000)
				if err != nil || !res.Duplicate || res.Original != b {
					t.Fatalf("producer %d batch %+v after restore: %+v, %v", id, b, res, err)
				}
			}
		}
	})
}

func TestSnapshotRestoreDropsExpired(t *testing.T) {
	s := New(Config{ExpirationMs: 100, SweepIntervalMs: 1000})
	s.Update(Batch{ProducerID: 1, MaxTimestampMs: 0}, 0)
	s.Update(Batch{ProducerID: 2, MaxTimestampMs: 60, BaseOffset: 1}, 60)
	r := New(Config{ExpirationMs: 100, SweepIntervalMs: 1000})
	if _, err := r.Restore(s.Snapshot(2), 120); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Producer(1); ok || r.Len() != 1 {
		t.Fatalf("want only producer 2 after restore at 120 ms, have %d producers", r.Len())
	}
}

func TestSnapshotCorruption(t *testing.T) {
	s := New(DefaultConfig())
	s.Update(Batch{ProducerID: 9, ProducerEpoch: 2, BaseSequence: 4, LastOffsetDelta: 2, MaxTimestampMs: 1, BaseOffset: 10}, 1)
	good := s.Snapshot(13)
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	for name, data := range map[string][]byte{
		"empty":     nil,
		"short":     good[:10],
		"truncated": good[:len(good)-1],
		"trailing":  append(bytes.Clone(good), 0),
		"version":   flip(1),
		"crc":       flip(3),
		"payload":   flip(len(good) - 1),
	} {
		if _, err := New(DefaultConfig()).Restore(data, 1); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: got %v, want ErrCorruptSnapshot", name, err)
		}
	}
	// A batch at or above the snapshot offset is impossible.
	if _, err := New(DefaultConfig()).Restore(s.Snapshot(12), 1); !errors.Is(err, ErrCorruptSnapshot) {
		t.Errorf("batch above the snapshot offset: got %v", err)
	}
}

// FuzzRestore: arbitrary bytes never panic, and whatever restores
// re-encodes to the same bytes.
func FuzzRestore(f *testing.F) {
	s := New(DefaultConfig())
	f.Add(s.Snapshot(0))
	s.Update(Batch{ProducerID: 1, ProducerEpoch: 0, BaseSequence: 0, LastOffsetDelta: 4, MaxTimestampMs: 5}, 5)
	s.Update(Batch{ProducerID: 3, ProducerEpoch: 7, BaseSequence: 100, LastOffsetDelta: 0, MaxTimestampMs: 6, BaseOffset: 5}, 6)
	f.Add(s.Snapshot(6))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := New(Config{ExpirationMs: 1 << 62, SweepIntervalMs: 1})
		off, err := r.Restore(data, 0)
		if err != nil {
			return
		}
		if again := r.Snapshot(off); !bytes.Equal(again, data) {
			t.Fatalf("restored snapshot re-encodes differently:\n%x\n%x", data, again)
		}
	})
}
