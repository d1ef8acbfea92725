package checker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/highwater-io/highwater/history"
)

// simRecord is one record of a simulated partition log.
type simRecord struct {
	value string
	txn   int // owning transaction, -1 for a plain send
}

// simTxn is an open simulated transaction.
type simTxn struct {
	id      int
	proc    int
	commit  bool
	pending []tsend // still to send
	sent    []tsend
	reads   []tread
}

// txnSim generates histories of a correct Kafka with transactions: logs
// per partition, transactions whose records are invisible to
// read_committed until they commit and never after they abort,
// read_committed and read_uncommitted consumers, plain sends, and a final
// read_committed drain. pick(n) chooses in [0, n).
type txnSim struct {
	b      *hb
	pick   func(n int) int
	parts  int
	logs   [][]simRecord
	state  map[int]int8 // txn → 0 open, 1 committed, 2 aborted
	open   map[int]*simTxn
	procs  int
	nextID int
	n      int
	pos    map[int][]int // consumer process → next offset per partition
	polls  int
	stable []int // per partition: no open record below this offset
	// leakAborted plants the bug "aborted records returned to
	// read_committed consumers"; leaked is set once one was.
	leakAborted, leaked bool
}

func newTxnSim(b *hb, parts int, pick func(int) int) *txnSim {
	return &txnSim{b: b, pick: pick, parts: parts, logs: make([][]simRecord, parts),
		state: map[int]int8{}, open: map[int]*simTxn{}, pos: map[int][]int{}}
}

// visible says whether a read_committed reader may see the record, and
// stable whether everything before it is decided (the last stable offset
// has passed it).
func (s *txnSim) visible(r simRecord) bool { return r.txn < 0 || s.state[r.txn] == 1 }

func (s *txnSim) lso(p int) int {
	if s.stable == nil {
		s.stable = make([]int, s.parts)
	}
	// Transactions only ever close, so the first open record's offset
	// only grows: resume the scan where the last one stopped.
	o := s.stable[p]
	for ; o < len(s.logs[p]); o++ {
		if r := s.logs[p][o]; r.txn >= 0 && s.state[r.txn] == 0 {
			break
		}
	}
	s.stable[p] = o
	return o
}

// readFrom returns what a consumer at offset from of partition p reads,
// and where it ends.
func (s *txnSim) readFrom(p, from int, committed bool, limit int) ([]tread, int) {
	end := len(s.logs[p])
	if committed {
		end = s.lso(p)
	}
	var out []tread
	o := from
	for ; o < end && len(out) < limit; o++ {
		r := s.logs[p][o]
		if committed && !s.visible(r) {
			if !s.leakAborted || s.state[r.txn] != 2 {
				continue
			}
			s.leaked = true
		}
		out = append(out, tread{p: int32(p), off: int64(o), v: r.value})
	}
	return out, o
}

func (s *txnSim) step() {
	switch s.pick(5) {
	case 0, 1:
		s.stepTxn()
	case 2:
		s.plainSend()
	default:
		s.poll(s.pick(2) == 0)
	}
}

// stepTxn opens a transaction, sends one of its records, or ends it.
func (s *txnSim) stepTxn() {
	if len(s.open) == 0 || (len(s.open) < 3 && s.pick(3) == 0) {
		s.begin()
		return
	}
	ids := make([]int, 0, len(s.open))
	for id := range s.open {
		ids = append(ids, id)
	}
	// Deterministic order for the chooser: map order is random.
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
	x := s.open[ids[s.pick(len(ids))]]
	if len(x.pending) > 0 {
		r := x.pending[0]
		x.pending = x.pending[1:]
		r.off = int64(len(s.logs[r.p]))
		s.logs[r.p] = append(s.logs[r.p], simRecord{value: r.v, txn: x.id})
		x.sent = append(x.sent, r)
		return
	}
	s.end(x)
}

func (s *txnSim) begin() {
	x := &simTxn{id: s.nextID, proc: s.procs, commit: s.pick(4) != 0}
	s.nextID++
	s.procs++
	for range 1 + s.pick(3) {
		x.pending = append(x.pending, tsend{p: int32(s.pick(s.parts)), v: fmt.Sprintf("v%d", s.n)})
		s.n++
	}
	if s.pick(2) == 0 {
		p := s.pick(s.parts)
		x.reads, _ = s.readFrom(p, s.pick(len(s.logs[p])+1), true, 5)
	}
	s.state[x.id] = 0
	s.open[x.id] = x
	inv := &history.Txn{TransactionalID: "tid", Commit: x.commit}
	for _, r := range x.pending {
		inv.Sends = append(inv.Sends, r.record(false))
	}
	s.b.must(s.b.w.Invoke(x.proc, history.FTxn, inv))
}

func (s *txnSim) end(x *simTxn) {
	delete(s.open, x.id)
	done := &history.Txn{TransactionalID: "tid", Commit: x.commit, Reads: partsOf(x.reads)}
	for _, r := range x.sent {
		done.Sends = append(done.Sends, r.record(true))
	}
	end := int64(s.b.clock)
	done.EndTime = &end
	if x.commit {
		s.state[x.id] = 1
	} else {
		s.state[x.id] = 2
	}
	s.b.must(s.b.w.Ok(x.proc, done))
}

func (s *txnSim) plainSend() {
	p := s.pick(s.parts)
	proc := s.procs
	s.procs++
	v := fmt.Sprintf("v%d", s.n)
	s.n++
	s.b.must(s.b.w.Invoke(proc, history.FSend, &history.Send{Records: []history.SendRecord{{Topic: "t", Partition: int32(p), Value: v}}}))
	off := int64(len(s.logs[p]))
	s.logs[p] = append(s.logs[p], simRecord{value: v, txn: -1})
	s.b.must(s.b.w.Ok(proc, &history.Send{Records: []history.SendRecord{{Topic: "t", Partition: int32(p), Value: v, Offset: &off}}}))
}

// poll reads with one of two long-lived consumers per isolation level.
func (s *txnSim) poll(committed bool) {
	proc, iso := -10, ru
	if committed {
		proc, iso = -11, rc
	}
	proc = 1_000_000 + proc // clear of producer processes
	pos := s.pos[proc]
	if pos == nil {
		pos = make([]int, s.parts)
		s.pos[proc] = pos
	}
	var rs []tread
	for p := range s.parts {
		got, next := s.readFrom(p, pos[p], committed, 10)
		rs = append(rs, got...)
		pos[p] = next
	}
	s.polls++
	s.b.pollIso(proc, iso, rs...)
}

// finish ends every open transaction and drains read_committed.
func (s *txnSim) finish() {
	for id := range s.nextID {
		if x, ok := s.open[id]; ok {
			for len(x.pending) > 0 {
				s.stepTxnFor(x)
			}
			s.end(x)
		}
	}
	var all []tread
	for p := range s.parts {
		got, _ := s.readFrom(p, 0, true, len(s.logs[p]))
		all = append(all, got...)
	}
	s.b.drainRC(all...)
}

func (s *txnSim) stepTxnFor(x *simTxn) {
	r := x.pending[0]
	x.pending = x.pending[1:]
	r.off = int64(len(s.logs[r.p]))
	s.logs[r.p] = append(s.logs[r.p], simRecord{value: r.v, txn: x.id})
	x.sent = append(x.sent, r)
}

// TestTxnValidProperty: histories of a correct transactional log are valid
// for every transactional checker.
func TestTxnValidProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		b := newHB(rt)
		sim := newTxnSim(b, rapid.IntRange(1, 4).Draw(rt, "partitions"), func(n int) int {
			return rapid.IntRange(0, n-1).Draw(rt, "pick")
		})
		for range rapid.IntRange(0, 80).Draw(rt, "steps") {
			sim.step()
		}
		sim.finish()
		h := b.history()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, c := range []Checker{&Txn{}, &TxnCycles{}} {
			if r := c.Check(ctx, h); r.Valid != Valid {
				rt.Fatalf("%s: %s %s %v", c.Name(), r.Valid, r.Reason, r.Anomalies)
			}
		}
	})
}

// TestTxnPlantedAbortedReadProperty: the same generator with aborted
// records returned to read_committed readers; whenever one was returned,
// the txn checker must say invalid with G1a.
func TestTxnPlantedAbortedReadProperty(t *testing.T) {
	caught := 0
	rapid.Check(t, func(rt *rapid.T) {
		b := newHB(rt)
		sim := newTxnSim(b, rapid.IntRange(1, 3).Draw(rt, "partitions"), func(n int) int {
			return rapid.IntRange(0, n-1).Draw(rt, "pick")
		})
		sim.leakAborted = true
		for range rapid.IntRange(0, 80).Draw(rt, "steps") {
			sim.step()
		}
		sim.finish()
		r := checkOne(t, &Txn{}, b.history())
		switch {
		case sim.leaked && (r.Valid != Invalid || r.Counts[AbortedRead] == 0):
			rt.Fatalf("aborted record leaked, checker says %s %v", r.Valid, r.Counts)
		case !sim.leaked && r.Valid != Valid:
			rt.Fatalf("nothing leaked, checker says %s %v", r.Valid, r.Counts)
		case sim.leaked:
			caught++
		}
	})
	if caught == 0 {
		t.Error("the generator never leaked an aborted record: the property proves nothing")
	}
}

// genTxnHistory generates a valid history of about ops operations.
func genTxnHistory(tb testing.TB, ops int) *history.History {
	b := newHB(tb)
	rng := rand.New(rand.NewPCG(1, 2))
	sim := newTxnSim(b, 8, rng.IntN)
	for sim.procs+sim.polls < ops {
		sim.step()
	}
	sim.finish()
	return b.history()
}

// BenchmarkTxnCheck checks a generated 100,000-operation transactional
// history with the txn and txn-cycles checkers.
func BenchmarkTxnCheck(b *testing.B) {
	h := genTxnHistory(b, 100_000)
	b.Logf("%d ops, %d events", len(h.Ops), len(h.Events))
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		for _, c := range []Checker{&Txn{}, &TxnCycles{}} {
			if r := c.Check(ctx, h); r.Valid != Valid {
				b.Fatalf("%s: %s %s %v", c.Name(), r.Valid, r.Reason, r.Counts)
			}
		}
	}
}
