package producers

import (
	"errors"
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// txnStep is one append to a simulated log: a data batch (transactional or
// not) or a marker.
type txnStep struct {
	pid    int64
	epoch  int16
	seq    int32
	count  int32
	txn    bool // transactional data batch
	marker string
	coord  int32
	want   string // "ok@<offset>", "dup@<offset>", "epoch", "ooo", "txnstate", "fenced", plus ":<completed>" for markers
	open   string // the producer's CurrentTxnFirstOffset after the step ("": not checked)
}

type txnSim struct {
	s    *State
	next int64
}

func (l *txnSim) apply(st txnStep) string {
	const nowMs = 1000
	if st.marker != "" {
		m := Marker{ProducerID: st.pid, ProducerEpoch: st.epoch, CoordinatorEpoch: st.coord, Commit: st.marker == "commit", TimestampMs: nowMs}
		if err := l.s.CheckMarker(m, nowMs); err != nil {
			return errName(err)
		}
		m.Offset = l.next
		l.next++
		txn, ok := l.s.ApplyMarker(m, nowMs)
		if !ok {
			return fmt.Sprintf("ok@%d:none", m.Offset)
		}
		return fmt.Sprintf("ok@%d:%d-%d aborted=%v", m.Offset, txn.FirstOffset, txn.LastOffset, txn.Aborted)
	}
	b := Batch{ProducerID: st.pid, ProducerEpoch: st.epoch, BaseSequence: st.seq, LastOffsetDelta: st.count - 1,
		MaxTimestampMs: nowMs, Transactional: st.txn}
	res, err := l.s.Check(b, nowMs)
	if err != nil {
		return errName(err)
	}
	if res.Duplicate {
		return fmt.Sprintf("dup@%d", res.Original.FirstOffset)
	}
	b.BaseOffset = l.next
	l.s.Update(b, nowMs)
	l.next += int64(st.count)
	return fmt.Sprintf("ok@%d", b.BaseOffset)
}

func errName(err error) string {
	switch {
	case errors.Is(err, ErrInvalidProducerEpoch):
		return "epoch"
	case errors.Is(err, ErrOutOfOrderSequence):
		return "ooo"
	case errors.Is(err, ErrInvalidTxnState):
		return "txnstate"
	case errors.Is(err, ErrCoordinatorFenced):
		return "fenced"
	case errors.Is(err, ErrInvalidBatch):
		return "invalid"
	}
	return "error: " + err.Error()
}

func TestTransactionScripts(t *testing.T) {
	cases := []struct {
		name  string
		steps []txnStep
	}{
		{"a transaction opens at its first batch and a commit closes it", []txnStep{
			{pid: 1, seq: 0, count: 2, txn: true, want: "ok@0", open: "0"},
			{pid: 1, seq: 2, count: 1, txn: true, want: "ok@2", open: "0"},
			{pid: 1, marker: "commit", want: "ok@3:0-3 aborted=false", open: "-1"},
			{pid: 1, seq: 3, count: 1, txn: true, want: "ok@4", open: "4"}, // sequences continue
			{pid: 1, marker: "abort", want: "ok@5:4-5 aborted=true", open: "-1"},
		}},
		{"a marker without data here completes nothing", []txnStep{
			{pid: 2, marker: "commit", coord: 3, want: "ok@0:none", open: "-1"},
			{pid: 2, seq: 0, count: 1, txn: true, want: "ok@1", open: "1"},
		}},
		{"a non-transactional batch inside an open transaction is refused", []txnStep{
			{pid: 1, seq: 0, count: 1, txn: true, want: "ok@0"},
			{pid: 1, seq: 1, count: 1, want: "txnstate", open: "0"},
			{pid: 1, marker: "commit", want: "ok@1:0-1 aborted=false"},
			{pid: 1, seq: 1, count: 1, want: "ok@2", open: "-1"},
		}},
		{"a marker with a bumped epoch fences the old epoch's late writes", []txnStep{
			{pid: 3, seq: 0, count: 1, txn: true, want: "ok@0"},
			{pid: 3, epoch: 1, marker: "abort", want: "ok@1:0-1 aborted=true", open: "-1"},
			{pid: 3, seq: 1, count: 1, txn: true, want: "epoch", open: "-1"}, // zombie
			{pid: 3, marker: "commit", want: "epoch"},                        // stale marker
			{pid: 3, epoch: 1, seq: 5, count: 1, txn: true, want: "ooo"},     // new epoch starts at 0
			{pid: 3, epoch: 2, seq: 0, count: 1, txn: true, want: "ok@2", open: "2"},
		}},
		{"markers from an older coordinator epoch are fenced", []txnStep{
			{pid: 4, seq: 0, count: 1, txn: true, want: "ok@0"},
			{pid: 4, marker: "commit", coord: 5, want: "ok@1:0-1 aborted=false"},
			{pid: 4, seq: 1, count: 1, txn: true, want: "ok@2"},
			{pid: 4, marker: "abort", coord: 4, want: "fenced", open: "2"},
			{pid: 4, marker: "abort", coord: 5, want: "ok@3:2-3 aborted=true", open: "-1"},
		}},
		{"duplicates of transactional batches are still answered", []txnStep{
			{pid: 5, seq: 0, count: 3, txn: true, want: "ok@0"},
			{pid: 5, seq: 0, count: 3, txn: true, want: "dup@0", open: "0"},
		}},
		{"transaction version 2: the marker carries the bumped epoch, the next transaction starts at sequence 0", []txnStep{
			{pid: 6, seq: 0, count: 2, txn: true, want: "ok@0", open: "0"},
			{pid: 6, epoch: 1, marker: "commit", want: "ok@2:0-2 aborted=false", open: "-1"},
			{pid: 6, seq: 2, count: 1, txn: true, want: "epoch"},                     // the previous transaction's late write
			{pid: 6, epoch: 1, seq: 0, count: 1, txn: true, want: "ok@3", open: "3"}, // the next transaction
			{pid: 6, epoch: 2, marker: "abort", want: "ok@4:3-4 aborted=true", open: "-1"},
			{pid: 6, epoch: 3, marker: "abort", want: "ok@5:none", open: "-1"}, // an empty abort's marker
			{pid: 6, epoch: 3, seq: 0, count: 1, txn: true, want: "ok@6", open: "6"},
		}},
		{"producers' transactions are independent", []txnStep{
			{pid: 1, seq: 0, count: 1, txn: true, want: "ok@0"},
			{pid: 2, seq: 0, count: 1, txn: true, want: "ok@1"},
			{pid: 1, marker: "abort", want: "ok@2:0-2 aborted=true"},
			{pid: 2, seq: 1, count: 1, txn: true, want: "ok@3", open: "1"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := &txnSim{s: New(DefaultConfig())}
			for i, st := range tc.steps {
				if got := l.apply(st); got != st.want {
					t.Fatalf("step %d %+v: got %s, want %s", i, st, got, st.want)
				}
				if st.open != "" {
					p, _ := l.s.Producer(st.pid)
					if got := fmt.Sprint(p.CurrentTxnFirstOffset); got != st.open {
						t.Fatalf("step %d: open transaction at %s, want %s", i, got, st.open)
					}
				}
			}
		})
	}
}

// An open transaction pins its producer against expiry, as in Kafka.
func TestOpenTransactionPinsProducer(t *testing.T) {
	s := New(Config{ExpirationMs: 100, SweepIntervalMs: 1})
	s.Update(Batch{ProducerID: 1, MaxTimestampMs: 0, Transactional: true}, 0)
	s.Update(Batch{ProducerID: 2, MaxTimestampMs: 0}, 0)
	s.Expire(1000)
	if _, ok := s.Producer(1); !ok {
		t.Fatal("producer with an open transaction expired")
	}
	if _, ok := s.Producer(2); ok {
		t.Fatal("idle idempotent producer kept")
	}
	s.ApplyMarker(Marker{ProducerID: 1, Offset: 1, TimestampMs: 0}, 1000)
	s.Expire(2000)
	if s.Len() != 0 {
		t.Fatalf("%d producers left after the transaction ended and expiry passed", s.Len())
	}
}

// Property: replaying what was appended (data batches through Update,
// markers through ApplyMarker) rebuilds a state that encodes to the same
// snapshot, and a snapshot restores it with the open transactions and
// coordinator epochs.
func TestTransactionalReplayAndSnapshot(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		live := &txnSim{s: New(DefaultConfig())}
		type logged struct {
			b Batch
			m *Marker
		}
		var log []logged
		seqs, epochs := map[int64]int32{}, map[int64]int16{}
		open := map[int64]int64{}
		n := rapid.IntRange(1, 40).Draw(t, "steps")
		for i := 0; i < n; i++ {
			pid := rapid.Int64Range(0, 3).Draw(t, "pid")
			if rapid.IntRange(0, 3).Draw(t, "kind") == 0 {
				m := Marker{ProducerID: pid, ProducerEpoch: epochs[pid], Commit: rapid.Bool().Draw(t, "commit"), Offset: live.next, TimestampMs: 1000}
				if rapid.IntRange(0, 4).Draw(t, "bump") == 0 {
					epochs[pid]++
					m.ProducerEpoch = epochs[pid]
					seqs[pid] = 0
				}
				if err := live.s.CheckMarker(m, 1000); err != nil {
					t.Fatalf("marker %+v refused: %v", m, err)
				}
				txn, ok := live.s.ApplyMarker(m, 1000)
				first, wasOpen := open[pid]
				if ok != wasOpen || (ok && (txn.FirstOffset != first || txn.LastOffset != m.Offset || txn.Aborted == m.Commit)) {
					t.Fatalf("marker %+v completed %+v %v; open at %d %v", m, txn, ok, first, wasOpen)
				}
				delete(open, pid)
				live.next++
				log = append(log, logged{m: &m})
				continue
			}
			count := rapid.Int32Range(1, 3).Draw(t, "count")
			txn := rapid.Bool().Draw(t, "txn")
			if _, ok := open[pid]; ok {
				txn = true // non-transactional writes are refused inside a transaction
			}
			b := Batch{ProducerID: pid, ProducerEpoch: epochs[pid], BaseSequence: seqs[pid], LastOffsetDelta: count - 1,
				MaxTimestampMs: 1000, Transactional: txn}
			if res, err := live.s.Check(b, 1000); err != nil || res.Duplicate {
				t.Fatalf("batch %+v: %+v %v", b, res, err)
			}
			b.BaseOffset = live.next
			live.s.Update(b, 1000)
			if _, ok := open[pid]; txn && !ok {
				open[pid] = b.BaseOffset
			}
			seqs[pid] += count
			live.next += int64(count)
			log = append(log, logged{b: b})
		}
		rebuilt := New(DefaultConfig())
		for _, e := range log {
			if e.m != nil {
				rebuilt.ApplyMarker(*e.m, 1000)
			} else {
				rebuilt.Update(e.b, 1000)
			}
		}
		snap := live.s.Snapshot(live.next)
		if got := rebuilt.Snapshot(live.next); string(got) != string(snap) {
			t.Fatalf("replayed state differs from the live one")
		}
		restored := New(DefaultConfig())
		if _, err := restored.Restore(snap, 1000); err != nil {
			t.Fatal(err)
		}
		for pid, first := range open {
			p, ok := restored.Producer(pid)
			if !ok || p.CurrentTxnFirstOffset != first {
				t.Fatalf("producer %d: open transaction %d after restore, want %d", pid, p.CurrentTxnFirstOffset, first)
			}
		}
		for _, p := range restored.Producers(1000) {
			if _, ok := open[p.ID]; !ok && p.CurrentTxnFirstOffset >= 0 {
				t.Fatalf("producer %d has an open transaction at %d after restore, want none", p.ID, p.CurrentTxnFirstOffset)
			}
		}
	})
}

// OpenTxn names the epoch of the producer's open transaction, so the
// produce path can tell the next transaction version 2 transaction (a
// higher epoch) from the open one.
func TestOpenTxn(t *testing.T) {
	l := &txnSim{s: New(DefaultConfig())}
	if _, _, ok := l.s.OpenTxn(7, 1000); ok {
		t.Fatal("unknown producer has an open transaction")
	}
	l.apply(txnStep{pid: 7, epoch: 2, seq: 0, count: 1, txn: true})
	if e, first, ok := l.s.OpenTxn(7, 1000); !ok || e != 2 || first != 0 {
		t.Fatalf("OpenTxn = %d, %d, %v; want 2, 0, true", e, first, ok)
	}
	l.apply(txnStep{pid: 7, epoch: 3, marker: "commit"})
	if _, _, ok := l.s.OpenTxn(7, 1000); ok {
		t.Fatal("open transaction after its marker")
	}
}
