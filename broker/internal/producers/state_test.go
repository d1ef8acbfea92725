package producers

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"pgregory.net/rapid"
)

// step appends one batch to a simulated log through Check and Update.
type step struct {
	pid   int64
	epoch int16
	seq   int32
	count int32 // records in the batch
	nowMs int64 // also the batch's max timestamp unless tsMs is set
	tsMs  int64
	want  string // "ok@<offset>", "dup@<offset>", "epoch", "ooo", "invalid"
}

// simLog drives a State the way the produce path does.
type simLog struct {
	s    *State
	next int64
}

func (l *simLog) apply(st step) string {
	ts := st.nowMs
	if st.tsMs != 0 {
		ts = st.tsMs
	}
	b := Batch{ProducerID: st.pid, ProducerEpoch: st.epoch, BaseSequence: st.seq, LastOffsetDelta: st.count - 1, MaxTimestampMs: ts}
	res, err := l.s.Check(b, st.nowMs)
	switch {
	case errors.Is(err, ErrInvalidProducerEpoch):
		return "epoch"
	case errors.Is(err, ErrOutOfOrderSequence):
		return "ooo"
	case errors.Is(err, ErrInvalidBatch):
		return "invalid"
	case err != nil:
		return "error: " + err.Error()
	case res.Duplicate:
		return fmt.Sprintf("dup@%d", res.Original.FirstOffset)
	}
	b.BaseOffset = l.next
	l.s.Update(b, st.nowMs)
	l.next += int64(st.count)
	return fmt.Sprintf("ok@%d", b.BaseOffset)
}

func TestStateScripts(t *testing.T) {
	const day = DefaultExpirationMs
	cases := []struct {
		name  string
		steps []step
	}{
		{"in order then retry of the last batch is a duplicate", []step{
			{pid: 1, seq: 0, count: 3, want: "ok@0"},
			{pid: 1, seq: 3, count: 2, want: "ok@3"},
			{pid: 1, seq: 3, count: 2, want: "dup@3"},
			{pid: 1, seq: 0, count: 3, want: "dup@0"},
			{pid: 1, seq: 5, count: 1, want: "ok@5"},
		}},
		{"a gap is out of order, and so is a partial overlap", []step{
			{pid: 1, seq: 0, count: 3, want: "ok@0"},
			{pid: 1, seq: 4, count: 1, want: "ooo"},
			{pid: 1, seq: 2, count: 2, want: "ooo"},
			{pid: 1, seq: 0, count: 2, want: "ooo"}, // same first sequence, different range
			{pid: 1, seq: 3, count: 1, want: "ok@3"},
		}},
		{"only the last five batches are remembered", []step{
			{pid: 7, seq: 0, count: 1, want: "ok@0"},
			{pid: 7, seq: 1, count: 1, want: "ok@1"},
			{pid: 7, seq: 2, count: 1, want: "ok@2"},
			{pid: 7, seq: 3, count: 1, want: "ok@3"},
			{pid: 7, seq: 4, count: 1, want: "ok@4"},
			{pid: 7, seq: 0, count: 1, want: "dup@0"},
			{pid: 7, seq: 5, count: 1, want: "ok@5"},
			{pid: 7, seq: 1, count: 1, want: "dup@1"},
			{pid: 7, seq: 0, count: 1, want: "ooo"}, // fell out of the window
		}},
		{"epoch bump needs sequence 0 and fences the old epoch", []step{
			{pid: 2, seq: 0, count: 2, want: "ok@0"},
			{pid: 2, epoch: 1, seq: 2, count: 1, want: "ooo"},
			{pid: 2, epoch: 1, seq: 0, count: 1, want: "ok@2"},
			{pid: 2, epoch: 0, seq: 2, count: 1, want: "epoch"},
			{pid: 2, epoch: 0, seq: 0, count: 2, want: "epoch"}, // old epoch's batches are no duplicates any more
			{pid: 2, epoch: 1, seq: 0, count: 1, want: "dup@2"},
			{pid: 2, epoch: 5, seq: 0, count: 1, want: "ok@3"},
		}},
		{"an unknown producer is accepted at any sequence", []step{
			{pid: 3, epoch: 4, seq: 17, count: 2, want: "ok@0"},
			{pid: 3, epoch: 4, seq: 19, count: 1, want: "ok@2"},
			{pid: 3, epoch: 4, seq: 21, count: 1, want: "ooo"},
		}},
		{"producers are independent", []step{
			{pid: 1, seq: 0, count: 1, want: "ok@0"},
			{pid: 2, seq: 0, count: 1, want: "ok@1"},
			{pid: 1, seq: 0, count: 1, want: "dup@0"},
			{pid: 2, seq: 1, count: 1, want: "ok@2"},
			{pid: 1, seq: 1, count: 1, want: "ok@3"},
		}},
		{"sequences wrap from MaxInt32 to 0", []step{
			{pid: 4, seq: math.MaxInt32 - 1, count: 1, want: "ok@0"},
			{pid: 4, seq: math.MaxInt32, count: 3, want: "ok@1"}, // last sequence 1
			{pid: 4, seq: math.MaxInt32, count: 3, want: "dup@1"},
			{pid: 4, seq: 2, count: 1, want: "ok@4"},
		}},
		{"sequence 0 after MaxInt32", []step{
			{pid: 4, seq: math.MaxInt32, count: 1, want: "ok@0"},
			{pid: 4, seq: 0, count: 1, want: "ok@1"},
		}},
		{"idle producers expire and are then unknown", []step{
			{pid: 5, seq: 0, count: 1, nowMs: 1000, want: "ok@0"},
			{pid: 5, seq: 0, count: 1, nowMs: 1000 + day - 1, want: "dup@0"},
			{pid: 5, seq: 0, count: 1, nowMs: 1000 + day, want: "ok@1"}, // state gone: accepted again
			{pid: 5, seq: 9, count: 1, nowMs: 1000 + day, want: "ooo"},
		}},
		{"expiry follows the batch timestamp, not the append time", []step{
			{pid: 6, seq: 0, count: 1, nowMs: 5 * day, tsMs: 1, want: "ok@0"},
			{pid: 6, seq: 0, count: 1, nowMs: 5 * day, want: "ok@1"},
		}},
		{"a batch timestamp in the future never expires early", []step{
			{pid: 6, seq: 0, count: 1, nowMs: 0, tsMs: math.MaxInt64, want: "ok@0"},
			{pid: 6, seq: 0, count: 1, nowMs: 10 * day, want: "dup@0"},
		}},
		{"negative fields are refused", []step{
			{pid: 1, epoch: -1, seq: 0, count: 1, want: "invalid"},
			{pid: 1, seq: -1, count: 1, want: "invalid"},
			{pid: 1, seq: 0, count: 0, want: "invalid"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := &simLog{s: New(DefaultConfig())}
			for i, st := range tc.steps {
				if got := l.apply(st); got != st.want {
					t.Fatalf("step %d %+v: got %s, want %s", i, st, got, st.want)
				}
			}
		})
	}
}

func TestSweepForgetsIdleProducers(t *testing.T) {
	s := New(Config{ExpirationMs: 100, SweepIntervalMs: 10})
	s.Update(Batch{ProducerID: 1, BaseSequence: 0, MaxTimestampMs: 0}, 0)
	s.Update(Batch{ProducerID: 2, BaseSequence: 0, MaxTimestampMs: 50}, 50)
	if s.Len() != 2 {
		t.Fatalf("want 2 producers, have %d", s.Len())
	}
	s.Update(Batch{ProducerID: 3, BaseSequence: 0, MaxTimestampMs: 120}, 120)
	if _, ok := s.Producer(1); ok || s.Len() != 2 {
		t.Fatalf("producer 1 idle for 120 ms should be swept; have %d producers", s.Len())
	}
}

// TestReplayRebuildsState: replaying the appended batches through Update
// (what recovery does) gives a state that answers every later batch as the
// original did. Property: duplicates found after a rebuild.
func TestReplayRebuildsState(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		live := &simLog{s: New(DefaultConfig())}
		var appended []Batch
		seqs := map[int64]int32{}
		n := rapid.IntRange(1, 40).Draw(t, "batches")
		for i := 0; i < n; i++ {
			pid := rapid.Int64Range(0, 3).Draw(t, "pid")
			count := rapid.Int32Range(1, 4).Draw(t, "count")
			b := Batch{ProducerID: pid, BaseSequence: seqs[pid], LastOffsetDelta: count - 1, MaxTimestampMs: int64(i)}
			if res, err := live.s.Check(b, int64(i)); err != nil || res.Duplicate {
				t.Fatalf("in-order batch %+v refused: %v %+v", b, err, res)
			}
			b.BaseOffset = live.next
			live.s.Update(b, int64(i))
			live.next += int64(count)
			seqs[pid] += count
			appended = append(appended, b)
		}
		rebuilt := New(DefaultConfig())
		for _, b := range appended {
			rebuilt.Update(b, int64(n))
		}
		// Every one of the last five batches per producer is a duplicate
		// with its original offset, in both states.
		perProducer := map[int64]int{}
		for i := len(appended) - 1; i >= 0; i-- {
			b := appended[i]
			perProducer[b.ProducerID]++
			if perProducer[b.ProducerID] > BatchesRetained {
				continue
			}
			for _, s := range []*State{live.s, rebuilt} {
				res, err := s.Check(b, int64(n))
				if err != nil || !res.Duplicate || res.Original.FirstOffset != b.BaseOffset {
					t.Fatalf("batch %+v: want duplicate at %d, got %+v, %v", b, b.BaseOffset, res, err)
				}
			}
		}
	})
}

func TestIDAllocatorNeverReuses(t *testing.T) {
	var persisted []int64
	persist := func(hw int64) error { persisted = append(persisted, hw); return nil }
	a, err := NewIDAllocator(0, 3, persist)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := 0; i < 4; i++ {
		id, err := a.Next()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if fmt.Sprint(ids) != "[0 1 2 3]" || fmt.Sprint(persisted) != "[3 6]" {
		t.Fatalf("ids %v, persisted %v", ids, persisted)
	}
	// A restart resumes at the last persisted mark: 4 and 5 are skipped.
	b, _ := NewIDAllocator(persisted[len(persisted)-1], 3, persist)
	if id, _ := b.Next(); id != 6 {
		t.Fatalf("after restart got id %d, want 6", id)
	}
	// A failed reservation hands out nothing and is retried.
	failing := true
	c, _ := NewIDAllocator(10, 5, func(hw int64) error {
		if failing {
			return errors.New("disk full")
		}
		return nil
	})
	if id, err := c.Next(); err == nil || id != -1 {
		t.Fatalf("want an error, got id %d", id)
	}
	failing = false
	if id, err := c.Next(); err != nil || id != 10 {
		t.Fatalf("got %d, %v; want 10", id, err)
	}
	d, _ := NewIDAllocator(math.MaxInt64-2, 5, persist)
	if _, err := d.Next(); !errors.Is(err, ErrIDsExhausted) {
		t.Fatalf("want ErrIDsExhausted, got %v", err)
	}
	if _, err := NewIDAllocator(-1, 5, persist); err == nil {
		t.Fatal("negative high water accepted")
	}
}
