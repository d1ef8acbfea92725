package checker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/highwater-io/highwater/history"
)

// tsend is one record of a hand-built transaction: value to partition p of
// topic "t" (or of topic when set), acknowledged at off (-1: not acked).
type tsend struct {
	p     int32
	v     string
	off   int64
	key   string
	topic string
}

func (s tsend) record(acked bool) history.SendRecord {
	topic := s.topic
	if topic == "" {
		topic = "t"
	}
	r := history.SendRecord{Topic: topic, Partition: s.p, Value: s.v, Key: s.key}
	if acked && s.off >= 0 {
		r.Offset = history.Int64(s.off)
	}
	return r
}

// tread is a record a read returned: value v at p@off of topic "t" (or
// topic).
type tread struct {
	p     int32
	off   int64
	v     string
	topic string
}

func partsOf(rs []tread) []history.PartitionRecords {
	var out []history.PartitionRecords
	for _, r := range rs {
		topic := r.topic
		if topic == "" {
			topic = "t"
		}
		i := slices.IndexFunc(out, func(pr history.PartitionRecords) bool { return pr.Topic == topic && pr.Partition == r.p })
		if i < 0 {
			out = append(out, history.PartitionRecords{Topic: topic, Partition: r.p})
			i = len(out) - 1
		}
		out[i].Records = append(out[i].Records, history.Record{Offset: r.off, Value: r.v})
	}
	return out
}

// txnSpec is one hand-built transaction.
type txnSpec struct {
	proc   int
	commit bool
	typ    history.Type
	sends  []tsend
	reads  []tread
	group  string
	// endLate stamps EndTime far in the future: the commit was asked for
	// only after everything else in the test history.
	endLate bool
}

func (b *hb) txn(s txnSpec) {
	b.t.Helper()
	b.txnInvoke(s)
	b.txnComplete(s)
}

// txns runs the transactions concurrently: all are invoked, then all
// complete in order, so no realtime or process order joins them.
func (b *hb) txns(specs ...txnSpec) {
	b.t.Helper()
	for _, s := range specs {
		b.txnInvoke(s)
	}
	for _, s := range specs {
		b.txnComplete(s)
	}
}

func (b *hb) txnInvoke(s txnSpec) {
	b.t.Helper()
	x := &history.Txn{TransactionalID: "tid", Commit: s.commit, Group: s.group}
	for _, r := range s.sends {
		x.Sends = append(x.Sends, r.record(false))
	}
	b.must(b.w.Invoke(s.proc, history.FTxn, x))
}

func (b *hb) txnComplete(s txnSpec) {
	b.t.Helper()
	done := history.Txn{TransactionalID: "tid", Commit: s.commit, Group: s.group}
	for _, r := range s.sends {
		done.Sends = append(done.Sends, r.record(s.typ == history.TypeOK))
	}
	done.Reads = partsOf(s.reads)
	end := int64(b.clock) + int64(time.Millisecond)
	if s.endLate {
		end = int64(time.Hour)
	}
	done.EndTime = &end
	switch s.typ {
	case history.TypeOK:
		b.must(b.w.Ok(s.proc, &done))
	case history.TypeFail:
		b.must(b.w.Fail(s.proc, &done, nil))
	default:
		b.must(b.w.Info(s.proc, &done, nil))
	}
}

func (b *hb) pollIso(proc int, isolation string, rs ...tread) {
	b.must(b.w.Invoke(proc, history.FPoll, &history.Poll{Isolation: isolation}))
	b.must(b.w.Ok(proc, &history.Poll{Isolation: isolation, Partitions: partsOf(rs)}))
}

func (b *hb) drainRC(rs ...tread) {
	b.phase(history.PhaseDrain)
	b.pollIso(98, history.ReadCommitted, rs...)
	b.phase(history.PhaseDone)
}

func (b *hb) groupOffsets(group string, offs ...history.PartitionOffset) {
	c := &history.Commit{Group: group, Offsets: offs}
	b.must(b.w.Invoke(97, history.FGroupOffsets, &history.Commit{Group: group}))
	b.must(b.w.Ok(97, c))
}

const rc, ru = history.ReadCommitted, history.ReadUncommitted

// baseTxn is a valid history: T1 commits a (p0) and b (p1), T2 aborts c
// (p0); a read_committed consumer sees a, a read_uncommitted one a and c,
// and the drain a and b. mutate adds or changes one thing before the
// drain, returning the drain's records (nil: the full drain).
func baseTxn(t *testing.T, mutate func(b *hb) []tread) *history.History {
	b := newHBHeader(t, history.Header{Scenario: "txn", Seed: 1, Params: map[string]string{"workload": "txn"}})
	b.txn(txnSpec{proc: 0, commit: true, typ: history.TypeOK, sends: []tsend{{p: 0, v: "a", off: 0}, {p: 1, v: "b", off: 0}}})
	b.txn(txnSpec{proc: 1, commit: false, typ: history.TypeOK, sends: []tsend{{p: 0, v: "c", off: 2}}})
	b.pollIso(2, rc, tread{p: 0, off: 0, v: "a"})
	b.pollIso(3, ru, tread{p: 0, off: 0, v: "a"}, tread{p: 0, off: 2, v: "c"})
	drain := []tread{{p: 0, off: 0, v: "a"}, {p: 1, off: 0, v: "b"}}
	if mutate != nil {
		if d := mutate(b); d != nil {
			drain = d
		}
	}
	b.drainRC(drain...)
	return b.history()
}

func checkOne(t *testing.T, c Checker, h *history.History) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Check(ctx, h)
}

// TestTxnAnomalies plants each anomaly in an otherwise valid history: the
// checker must report exactly that type, and the history without it must
// be valid (so a checker that says invalid to everything fails too).
func TestTxnAnomalies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		want   string
		mutate func(b *hb) []tread
	}{
		{"valid", "", nil},
		{"G1a: read_committed poll returns an aborted record", AbortedRead, func(b *hb) []tread {
			b.pollIso(4, rc, tread{p: 0, off: 2, v: "c"})
			return nil
		}},
		{"G1a: read inside a transaction returns an aborted record", AbortedRead, func(b *hb) []tread {
			b.txn(txnSpec{proc: 4, commit: true, typ: history.TypeOK, reads: []tread{{p: 0, off: 2, v: "c"}}, sends: []tsend{{p: 1, v: "d", off: 1}}})
			return []tread{{p: 0, off: 0, v: "a"}, {p: 1, off: 0, v: "b"}, {p: 1, off: 1, v: "d"}}
		}},
		{"G1a: failed transaction read", AbortedRead, func(b *hb) []tread {
			b.txn(txnSpec{proc: 4, commit: true, typ: history.TypeFail, sends: []tsend{{p: 1, v: "d", off: 1}}})
			b.pollIso(5, rc, tread{p: 1, off: 1, v: "d"})
			return nil
		}},
		{"precommitted-read: visible before the commit was asked for", PrecommittedRead, func(b *hb) []tread {
			b.txn(txnSpec{proc: 4, commit: true, typ: history.TypeInfo, sends: []tsend{{p: 1, v: "d", off: -1}}, endLate: true})
			b.pollIso(5, rc, tread{p: 1, off: 1, v: "d"})
			return []tread{{p: 0, off: 0, v: "a"}, {p: 1, off: 0, v: "b"}, {p: 1, off: 1, v: "d"}}
		}},
		{"precommitted-read: a transaction reads its own send", PrecommittedRead, func(b *hb) []tread {
			b.txn(txnSpec{proc: 4, commit: true, typ: history.TypeOK, sends: []tsend{{p: 1, v: "d", off: 1}}, reads: []tread{{p: 1, off: 1, v: "d"}}})
			return []tread{{p: 0, off: 0, v: "a"}, {p: 1, off: 0, v: "b"}, {p: 1, off: 1, v: "d"}}
		}},
		{"lost-write: committed record missing from the drain", LostWrite, func(b *hb) []tread {
			return []tread{{p: 0, off: 0, v: "a"}}
		}},
		{"duplicate: a value at two offsets", Duplicate, func(b *hb) []tread {
			return []tread{{p: 0, off: 0, v: "a"}, {p: 0, off: 3, v: "a"}, {p: 1, off: 0, v: "b"}}
		}},
		{"inconsistent-offsets: two values at one offset", InconsistentOffsets, func(b *hb) []tread {
			b.txn(txnSpec{proc: 4, commit: true, typ: history.TypeOK, sends: []tsend{{p: 1, v: "d", off: 0}}})
			return []tread{{p: 0, off: 0, v: "a"}, {p: 1, off: 0, v: "b"}, {p: 1, off: 0, v: "d"}}
		}},
		{"unexpected: a value nobody sent", Unexpected, func(b *hb) []tread {
			b.pollIso(4, ru, tread{p: 1, off: 5, v: "zz"})
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := baseTxn(t, tc.mutate)
			r := checkOne(t, &Txn{}, h)
			if tc.want == "" {
				if r.Valid != Valid {
					t.Fatalf("want valid, got %s %s %v", r.Valid, r.Reason, r.Anomalies)
				}
				return
			}
			if r.Valid != Invalid || r.Counts[tc.want] == 0 {
				t.Fatalf("want %s, got %s %v %v", tc.want, r.Valid, r.Counts, r.Anomalies)
			}
			if len(r.Counts) != 1 {
				t.Errorf("want only %s, got %v", tc.want, r.Counts)
			}
			for _, a := range r.Anomalies {
				if a.Explanation == "" || len(a.Ops) == 0 {
					t.Errorf("anomaly without explanation or ops: %+v", a)
				}
				t.Logf("%s: %s", a.Type, a.Explanation)
			}
		})
	}
}

// TestTxnUnknownWithoutDrain: committed writes nobody read cannot be
// judged lost without a completed drain.
func TestTxnUnknownWithoutDrain(t *testing.T) {
	b := newHB(t)
	b.txn(txnSpec{proc: 0, commit: true, typ: history.TypeOK, sends: []tsend{{p: 0, v: "a", off: 0}}})
	if r := checkOne(t, &Txn{}, b.history()); r.Valid != Unknown || r.Reason == "" {
		t.Fatalf("want unknown with a reason, got %s %q", r.Valid, r.Reason)
	}
}

// TestTxnCanceled: a checker out of time says unknown.
func TestTxnCanceled(t *testing.T) {
	h := baseTxn(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []Checker{&Txn{}, &TxnCycles{}, &ExactlyOnce{}} {
		if r := c.Check(ctx, h); r.Valid != Unknown {
			t.Errorf("%s on a canceled context: %s", c.Name(), r.Valid)
		}
	}
}

// TestTxnCycles plants a G1c (two transactions each reading the other's
// committed write), checks an interleaving (G0) is allowed by default and
// reported with StrictG0, and that a legal interleaving with a long
// transaction and write-read edges is not a G1c.
func TestTxnCycles(t *testing.T) {
	t.Run("G1c", func(t *testing.T) {
		b := newHB(t)
		b.txn(txnSpec{proc: 0, commit: true, typ: history.TypeOK, sends: []tsend{{p: 0, v: "a", off: 0}}, reads: []tread{{p: 1, off: 0, v: "b"}}})
		b.txn(txnSpec{proc: 1, commit: true, typ: history.TypeOK, sends: []tsend{{p: 1, v: "b", off: 0}}, reads: []tread{{p: 0, off: 0, v: "a"}}})
		r := checkOne(t, &TxnCycles{}, b.history())
		if r.Valid != Invalid || r.Counts[CycleG1c] != 1 {
			t.Fatalf("want one G1c, got %s %v", r.Valid, r.Counts)
		}
		t.Log(r.Anomalies[0].Explanation)
		if len(r.Anomalies[0].Ops) != 2 {
			t.Errorf("cycle should name 2 ops: %+v", r.Anomalies[0].Ops)
		}
	})
	t.Run("G1c through a write-write edge", func(t *testing.T) {
		// T2 reads T1's a (so T1 committed, after all its appends,
		// before T2 polled and then sent), yet T2's send c precedes
		// T1's d in p1.
		b := newHB(t)
		b.txn(txnSpec{proc: 0, commit: true, typ: history.TypeOK, sends: []tsend{{p: 0, v: "a", off: 0}, {p: 1, v: "d", off: 1}}})
		b.txn(txnSpec{proc: 1, commit: true, typ: history.TypeOK, sends: []tsend{{p: 1, v: "c", off: 0}}, reads: []tread{{p: 0, off: 0, v: "a"}}})
		r := checkOne(t, &TxnCycles{}, b.history())
		if r.Valid != Invalid || r.Counts[CycleG1c] != 1 {
			t.Fatalf("want one G1c, got %s %v", r.Valid, r.Counts)
		}
		t.Log(r.Anomalies[0].Explanation)
	})
	g0 := func(t *testing.T) *history.History {
		b := newHB(t)
		b.txns(txnSpec{proc: 0, commit: true, typ: history.TypeOK, sends: []tsend{{p: 0, v: "a", off: 0}, {p: 1, v: "b", off: 1}}},
			txnSpec{proc: 1, commit: true, typ: history.TypeOK, sends: []tsend{{p: 0, v: "c", off: 1}, {p: 1, v: "d", off: 0}}})
		return b.history()
	}
	t.Run("G0 allowed", func(t *testing.T) {
		r := checkOne(t, &TxnCycles{}, g0(t))
		if r.Valid != Valid || r.Stats["G0-allowed"] != 1 {
			t.Fatalf("want valid with one allowed G0, got %s %v %v", r.Valid, r.Counts, r.Stats)
		}
	})
	t.Run("G0 strict", func(t *testing.T) {
		r := checkOne(t, &TxnCycles{StrictG0: true}, g0(t))
		if r.Valid != Invalid || r.Counts[CycleG0] != 1 {
			t.Fatalf("want G0, got %s %v", r.Valid, r.Counts)
		}
		t.Log(r.Anomalies[0].Explanation)
	})
	t.Run("long transaction interleaving is not G1c", func(t *testing.T) {
		// T3 appends e to p2 before T1's f, commits after T2 — legal.
		// T1 →wr T2 →ww T3 →ww T1 at the transaction level, no cycle in
		// the events.
		b := newHB(t)
		b.txns(txnSpec{proc: 0, commit: true, typ: history.TypeOK, sends: []tsend{{p: 0, v: "a", off: 0}, {p: 2, v: "f", off: 1}}},
			txnSpec{proc: 1, commit: true, typ: history.TypeOK, sends: []tsend{{p: 1, v: "c", off: 0}}, reads: []tread{{p: 0, off: 0, v: "a"}}},
			txnSpec{proc: 2, commit: true, typ: history.TypeOK, sends: []tsend{{p: 2, v: "e", off: 0}, {p: 1, v: "g", off: 1}}})
		r := checkOne(t, &TxnCycles{}, b.history())
		if r.Valid != Valid {
			t.Fatalf("want valid, got %s %v %v", r.Valid, r.Counts, r.Anomalies)
		}
	})
}

// eosHistory: inputs i1, i2 on topic in; transactions transform them into
// outputs on out (key = input); the group's offsets are read back, and the
// drain reads out.
func eosHistory(t *testing.T, txns []txnSpec, committed int64, drain []tread) *history.History {
	b := newHBHeader(t, history.Header{Scenario: "eos", Seed: 1, Params: map[string]string{"workload": "eos"}})
	b.must(b.w.Invoke(50, history.FSend, &history.Send{Records: []history.SendRecord{{Topic: "in", Value: "i1"}, {Topic: "in", Value: "i2"}}}))
	b.must(b.w.Ok(50, &history.Send{Records: []history.SendRecord{{Topic: "in", Value: "i1", Offset: history.Int64(0)}, {Topic: "in", Value: "i2", Offset: history.Int64(1)}}}))
	for _, x := range txns {
		b.txn(x)
	}
	b.groupOffsets("g", history.PartitionOffset{Topic: "in", Partition: 0, Offset: committed})
	b.phase(history.PhaseDrain)
	b.pollIso(98, rc, append(drain, tread{topic: "in", off: 0, v: "i1"}, tread{topic: "in", off: 1, v: "i2"})...)
	b.phase(history.PhaseDone)
	return b.history()
}

func eosTxn(proc int, typ history.Type, in string, inOff int64, out string, outOff int64) txnSpec {
	return txnSpec{proc: proc, commit: true, typ: typ, group: "g",
		reads: []tread{{topic: "in", off: inOff, v: in}},
		sends: []tsend{{topic: "out", v: out, key: in, off: outOff}}}
}

func TestExactlyOnce(t *testing.T) {
	both := []txnSpec{eosTxn(0, history.TypeOK, "i1", 0, "o1", 0), eosTxn(1, history.TypeOK, "i2", 1, "o2", 1)}
	for _, tc := range []struct {
		name      string
		txns      []txnSpec
		committed int64
		drain     []tread
		want      string
	}{
		{"valid", both, 2, []tread{{topic: "out", off: 0, v: "o1"}, {topic: "out", off: 1, v: "o2"}}, ""},
		{"valid with an aborted attempt", append([]txnSpec{eosTxn(2, history.TypeFail, "i1", 0, "o1x", 0)}, eosTxn(0, history.TypeOK, "i1", 0, "o1", 1), eosTxn(1, history.TypeOK, "i2", 1, "o2", 2)),
			2, []tread{{topic: "out", off: 1, v: "o1"}, {topic: "out", off: 2, v: "o2"}}, ""},
		{"eos-lost", both[:1], 2, []tread{{topic: "out", off: 0, v: "o1"}}, EOSLost},
		{"eos-duplicate", append(both, eosTxn(2, history.TypeOK, "i1", 0, "o1b", 2)), 2,
			[]tread{{topic: "out", off: 0, v: "o1"}, {topic: "out", off: 1, v: "o2"}, {topic: "out", off: 2, v: "o1b"}}, EOSDuplicate},
		{"eos-unconsumed-output", both, 1, []tread{{topic: "out", off: 0, v: "o1"}, {topic: "out", off: 1, v: "o2"}}, EOSUnconsumedWrite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := checkOne(t, &ExactlyOnce{}, eosHistory(t, tc.txns, tc.committed, tc.drain))
			if tc.want == "" {
				if r.Valid != Valid {
					t.Fatalf("want valid, got %s %q %v", r.Valid, r.Reason, r.Anomalies)
				}
				return
			}
			if r.Valid != Invalid || r.Counts[tc.want] == 0 || len(r.Counts) != 1 {
				t.Fatalf("want %s, got %s %v %v", tc.want, r.Valid, r.Counts, r.Anomalies)
			}
			t.Log(r.Anomalies[0].Explanation)
		})
	}
}

// TestForWorkload: the header's workload picks the checkers.
func TestForWorkload(t *testing.T) {
	for w, want := range map[string][]string{
		"": {"queue", "linearizability", "group", "replicas"}, "queue": {"queue", "linearizability", "group", "replicas"},
		"txn": {"txn", "txn-cycles", "replicas"}, "eos": {"txn", "txn-cycles", "exactly-once"},
	} {
		cs, err := ForWorkload(w, "")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range cs {
			names = append(names, c.Name())
		}
		if !slices.Equal(names, want) {
			t.Errorf("workload %q: %v, want %v", w, names, want)
		}
	}
	if _, err := ForWorkload("bogus", ""); err == nil {
		t.Error("unknown workload accepted")
	}
}
