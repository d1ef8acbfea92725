package checker

import (
	"context"
	"fmt"
	"slices"

	"github.com/highwater-io/highwater/history"
)

// txnOutcome is what the history says about whether a write took effect.
type txnOutcome int8

const (
	outcomeUnknown   txnOutcome = iota // info: may or may not have committed
	outcomeCommitted                   // ok commit, or an ok plain send
	outcomeAborted                     // fail, or an ok abort
)

func (o txnOutcome) String() string {
	switch o {
	case outcomeCommitted:
		return "committed"
	case outcomeAborted:
		return "aborted"
	}
	return "unknown"
}

// txnWrite is one sent value: the op that sent it and where.
type txnWrite struct {
	op      int // index into History.Ops
	tp      history.TopicPartition
	key     string
	offset  int64 // acknowledged offset, -1 when unknown
	outcome txnOutcome
}

// txnRead is one record returned by a read.
type txnRead struct {
	op        int
	tp        history.TopicPartition
	offset    int64
	value     string
	committed bool // read with read_committed (polls so marked, reads inside transactions)
	inTxn     bool // read inside a transaction (Txn.Reads)
	drain     bool // a poll of the final drain
}

// txnModel is the analysis the transactional checkers share: who wrote
// each value, every read, and each partition's observed offsets.
type txnModel struct {
	h       *history.History
	writes  map[string]txnWrite
	reads   []txnRead
	txnOps  []int // ops with f txn, in history order
	dupSend []string
	// drainDone is set when the history records a completed final drain.
	drainDone bool
	drainFrom int64 // event index of the drain phase
}

// buildTxnModel indexes h. It polls ctx between ops so a huge history can
// still be abandoned.
func buildTxnModel(ctx context.Context, h *history.History) (*txnModel, error) {
	m := &txnModel{h: h, writes: map[string]txnWrite{}, drainFrom: -1}
	if d, ok := h.Phase(history.PhaseDrain); ok {
		m.drainFrom = d.Index
		if done, ok := h.Phase(history.PhaseDone); ok && done.Index > d.Index {
			m.drainDone = true
		}
	}
	for i := range h.Ops {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		m.addOp(i)
	}
	return m, nil
}

func (m *txnModel) addOp(i int) {
	op := &m.h.Ops[i]
	switch op.F {
	case history.FSend:
		s, _ := op.Invoke.Send()
		if c, ok := op.Complete.Send(); ok {
			s = c
		}
		if s == nil {
			return
		}
		out := outcomeUnknown
		switch op.Type() {
		case history.TypeOK:
			out = outcomeCommitted
		case history.TypeFail:
			out = outcomeAborted
		}
		m.addSends(i, s.Records, out)
	case history.FTxn:
		x := m.txnValue(op)
		if x == nil {
			return
		}
		m.txnOps = append(m.txnOps, i)
		out := outcomeUnknown
		switch {
		case x.Committed(op.Type()):
			out = outcomeCommitted
		case x.Aborted(op.Type()) || !x.Commit:
			// A transaction the client asked to abort never commits,
			// whether or not the abort was confirmed.
			out = outcomeAborted
		}
		m.addSends(i, x.Sends, out)
		for _, pr := range x.Reads {
			m.addReads(i, pr, true, true)
		}
	case history.FPoll:
		p, ok := op.Complete.Poll()
		if !ok || op.Type() == history.TypeFail {
			return
		}
		inv, _ := op.Invoke.Poll()
		rc := p.ReadCommitted() || (inv != nil && inv.ReadCommitted())
		for _, pr := range p.Partitions {
			m.addReads(i, pr, rc, false)
		}
	}
}

// txnValue is the op's transaction, the completion's when it has one.
func (m *txnModel) txnValue(op *history.Op) *history.Txn {
	if x, ok := op.Complete.Txn(); ok {
		return x
	}
	x, _ := op.Invoke.Txn()
	return x
}

func (m *txnModel) addSends(op int, rs []history.SendRecord, out txnOutcome) {
	for _, r := range rs {
		if prev, dup := m.writes[r.Value]; dup {
			if prev.op != op || prev.tp != r.TopicPartition() {
				m.dupSend = append(m.dupSend, r.Value)
			}
			continue
		}
		w := txnWrite{op: op, tp: r.TopicPartition(), key: r.Key, offset: -1, outcome: out}
		if r.Offset != nil {
			w.offset = *r.Offset
		}
		m.writes[r.Value] = w
	}
}

func (m *txnModel) addReads(op int, pr history.PartitionRecords, committed, inTxn bool) {
	drain := m.drainFrom >= 0 && m.h.Ops[op].Invoke.Index > m.drainFrom
	for _, r := range pr.Records {
		m.reads = append(m.reads, txnRead{op: op, tp: pr.TopicPartition(), offset: r.Offset,
			value: r.Value, committed: committed, inTxn: inTxn, drain: drain})
	}
}

// txnVersion is one value at one offset of a partition.
type txnVersion struct {
	offset int64
	value  string
}

// versionOrders returns each partition's observed (offset, value) pairs in
// offset order, one per (offset, value), from acknowledged offsets of
// writes that were not aborted and from every read of such a value.
// Aborted records take offsets but are not versions.
func (m *txnModel) versionOrders() map[history.TopicPartition][]txnVersion {
	seen := map[history.TopicPartition]map[txnVersion]struct{}{}
	add := func(tp history.TopicPartition, v txnVersion) {
		s := seen[tp]
		if s == nil {
			s = map[txnVersion]struct{}{}
			seen[tp] = s
		}
		s[v] = struct{}{}
	}
	for v, w := range m.writes {
		if w.offset >= 0 && w.outcome != outcomeAborted {
			add(w.tp, txnVersion{w.offset, v})
		}
	}
	for _, r := range m.reads {
		if w, ok := m.writes[r.value]; ok && w.outcome != outcomeAborted && w.tp == r.tp {
			add(r.tp, txnVersion{r.offset, r.value})
		}
	}
	out := make(map[history.TopicPartition][]txnVersion, len(seen))
	for tp, s := range seen {
		vs := make([]txnVersion, 0, len(s))
		for v := range s {
			vs = append(vs, v)
		}
		slices.SortFunc(vs, func(a, b txnVersion) int {
			if a.offset != b.offset {
				return int(a.offset - b.offset)
			}
			if a.value < b.value {
				return -1
			}
			if a.value > b.value {
				return 1
			}
			return 0
		})
		out[tp] = vs
	}
	return out
}

// ref is the OpRef of op i.
func (m *txnModel) ref(i int) OpRef { return refOf(&m.h.Ops[i]) }

// describe names op i for an explanation: its index, process and, for a
// transaction, its transactional id and outcome.
func (m *txnModel) describe(i int) string {
	op := &m.h.Ops[i]
	if op.F == history.FTxn {
		if x := m.txnValue(op); x != nil {
			return fmt.Sprintf("txn op#%d (%s, process %d, %s)", op.Invoke.Index, x.TransactionalID, op.Process, op.Type())
		}
	}
	return fmt.Sprintf("%s op#%d (process %d, %s)", op.F, op.Invoke.Index, op.Process, op.Type())
}
