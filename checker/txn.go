package checker

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/highwater-io/highwater/history"
)

// Anomaly types of the transactional checkers, besides the queue types
// they share. Over a history of txn ops (history.Txn), plain sends and
// polls, where a write's outcome is committed (ok txn asking to commit, ok
// plain send), aborted (fail, or a txn that asked to abort) or unknown
// (info), and a read_committed read is a poll marked read_committed or a
// read inside a transaction:
//
//   - G1a (aborted read): a read_committed read returned a value whose
//     write aborted.
//   - precommitted-read: a read_committed read returned a transaction's
//     value before that transaction asked to commit (the read returned
//     before Txn.EndTime; for a read inside a transaction, that
//     transaction's own EndTime bounds when it read), or a transaction read
//     its own send (Jepsen's definition: in Kafka a transaction's sends are
//     invisible to every poller until it commits).
//   - lost-write: a committed value the completed read_committed drain did
//     not return, on a topic the drain read (without a completed drain the
//     value is not judged and the verdict is at best unknown).
//   - duplicate: a value at two or more offsets; inconsistent-offsets: an
//     offset holding two or more values (any isolation level: aborted
//     records take offsets too); unexpected: a value nobody sent, or read
//     from another partition than it was sent to.
//   - G1c, G0, G0-process, G1c-process, G0-realtime, G1c-realtime: see
//     TxnCycles. eos-*: see ExactlyOnce.
const (
	PrecommittedRead   = "precommitted-read"
	CycleG0            = "G0"
	CycleG1c           = "G1c"
	CycleG0Process     = "G0-process"
	CycleG1cProcess    = "G1c-process"
	CycleG0Realtime    = "G0-realtime"
	CycleG1cRealtime   = "G1c-realtime"
	EOSDuplicate       = "eos-duplicate"
	EOSLost            = "eos-lost"
	EOSUnconsumedWrite = "eos-unconsumed-output"
)

// Txn checks the transactional anomalies of one history over transactional
// sends (f txn), plain sends, polls (read_committed or not) and the reads
// inside transactions: G1a, precommitted-read, lost-write, duplicate,
// inconsistent-offsets and unexpected. See txn_doc.go.
type Txn struct{}

// Name implements Checker.
func (*Txn) Name() string { return "txn" }

// Check implements Checker.
func (c *Txn) Check(ctx context.Context, h *history.History) Result {
	m, err := buildTxnModel(ctx, h)
	if err != nil {
		return Result{Valid: Unknown, Reason: fmt.Sprintf("txn: %v", err)}
	}
	var col collector
	var reasons []string
	if len(m.dupSend) > 0 {
		reasons = append(reasons, fmt.Sprintf("%d value(s) sent more than once (e.g. %q): writes are not identifiable", len(m.dupSend), m.dupSend[0]))
	}
	m.checkOffsets(&col)
	if err := m.checkReads(ctx, &col); err != nil {
		return Result{Valid: Unknown, Reason: fmt.Sprintf("txn: %v", err)}
	}
	unjudged := m.checkLost(&col)
	if unjudged > 0 {
		reasons = append(reasons, fmt.Sprintf("%d committed write(s) not judged: no completed read_committed drain of their partition", unjudged))
	}
	r := Result{Counts: col.counts, Anomalies: col.anomalies, Stats: m.stats()}
	r.Stats["unjudged"] = int64(unjudged)
	switch {
	case len(col.counts) > 0:
		r.Valid = Invalid
	case len(reasons) > 0:
		r.Valid = Unknown
		r.Reason = reasons[0]
	default:
		r.Valid = Valid
	}
	return r
}

func (m *txnModel) stats() map[string]int64 {
	s := map[string]int64{"txns": int64(len(m.txnOps)), "reads": int64(len(m.reads))}
	for _, w := range m.writes {
		s["writes-"+w.outcome.String()]++
	}
	return s
}

// checkOffsets reports offsets holding two values and values at two
// offsets, over every observation (acknowledged offsets, reads at any
// isolation level: aborted records occupy offsets too).
func (m *txnModel) checkOffsets(col *collector) {
	type at struct {
		tp     history.TopicPartition
		offset int64
	}
	values := map[at]map[string]int{}     // → value → first op that showed it
	offsets := map[string]map[int64]int{} // value → offset → first op
	note := func(tp history.TopicPartition, off int64, v string, op int) {
		k := at{tp, off}
		if values[k] == nil {
			values[k] = map[string]int{}
		}
		if _, ok := values[k][v]; !ok {
			values[k][v] = op
		}
		if offsets[v] == nil {
			offsets[v] = map[int64]int{}
		}
		if _, ok := offsets[v][off]; !ok {
			offsets[v][off] = op
		}
	}
	for v, w := range m.writes {
		if w.offset >= 0 {
			note(w.tp, w.offset, v, w.op)
		}
	}
	for _, r := range m.reads {
		note(r.tp, r.offset, r.value, r.op)
	}
	for _, k := range slices.SortedFunc(maps.Keys(values), func(a, b at) int {
		if a.tp != b.tp {
			return cmpTP(a.tp, b.tp)
		}
		return int(a.offset - b.offset)
	}) {
		vs := values[k]
		if len(vs) < 2 {
			continue
		}
		names := slices.Sorted(maps.Keys(vs))
		a := Anomaly{Type: InconsistentOffsets, Topic: k.tp.Topic, Partition: k.tp.Partition, Values: names, Offsets: []int64{k.offset}}
		for _, v := range names {
			a.Ops = append(a.Ops, m.ref(vs[v]))
		}
		a.Explanation = fmt.Sprintf("offset %d of %s holds %d values %v (first shown by %s and %s)",
			k.offset, k.tp, len(names), names, m.describe(vs[names[0]]), m.describe(vs[names[1]]))
		col.add(a)
	}
	for _, v := range slices.Sorted(maps.Keys(offsets)) {
		offs := offsets[v]
		if len(offs) < 2 {
			continue
		}
		sorted := slices.Sorted(maps.Keys(offs))
		tp := m.writes[v].tp
		a := Anomaly{Type: Duplicate, Topic: tp.Topic, Partition: tp.Partition, Values: []string{v}, Offsets: sorted}
		for _, o := range sorted {
			a.Ops = append(a.Ops, m.ref(offs[o]))
		}
		a.Explanation = fmt.Sprintf("value %q appears at %d offsets %v of %s (shown by %s and %s)",
			v, len(sorted), sorted, tp, m.describe(offs[sorted[0]]), m.describe(offs[sorted[1]]))
		col.add(a)
	}
}

func cmpTP(a, b history.TopicPartition) int {
	if a.Topic != b.Topic {
		if a.Topic < b.Topic {
			return -1
		}
		return 1
	}
	return int(a.Partition - b.Partition)
}

// readTime is when the read in r had certainly happened: for a read inside
// a transaction, when that transaction asked to end (its poll came before);
// for a poll, when it returned.
func (m *txnModel) readTime(r txnRead) int64 {
	op := &m.h.Ops[r.op]
	if r.inTxn {
		if x := m.txnValue(op); x != nil && x.EndTime != nil {
			return *x.EndTime
		}
	}
	return op.Complete.Time
}

// checkReads reports unexpected values, aborted reads (G1a) and
// precommitted reads.
func (m *txnModel) checkReads(ctx context.Context, col *collector) error {
	type key struct {
		typ   string
		value string
	}
	reported := map[key]bool{} // one anomaly per (type, value)
	for i, r := range m.reads {
		if i%8192 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		w, ok := m.writes[r.value]
		if !ok || w.tp != r.tp {
			if k := (key{Unexpected, r.value}); !reported[k] {
				reported[k] = true
				why := "no operation ever sent it"
				if ok {
					why = fmt.Sprintf("it was sent to %s", w.tp)
				}
				col.add(Anomaly{Type: Unexpected, Topic: r.tp.Topic, Partition: r.tp.Partition,
					Values: []string{r.value}, Offsets: []int64{r.offset}, Ops: []OpRef{m.ref(r.op)},
					Explanation: fmt.Sprintf("%s read %q at %s@%d but %s", m.describe(r.op), r.value, r.tp, r.offset, why)})
			}
			continue
		}
		if !r.committed {
			continue
		}
		if w.outcome == outcomeAborted {
			if k := (key{AbortedRead, r.value}); !reported[k] {
				reported[k] = true
				col.add(Anomaly{Type: AbortedRead, Topic: r.tp.Topic, Partition: r.tp.Partition,
					Values: []string{r.value}, Offsets: []int64{r.offset}, Ops: []OpRef{m.ref(w.op), m.ref(r.op)},
					Explanation: fmt.Sprintf("read_committed %s returned %q at %s@%d, written by %s which aborted",
						m.describe(r.op), r.value, r.tp, r.offset, m.describe(w.op))})
			}
			continue
		}
		if why := m.precommitted(r, w); why != "" {
			if k := (key{PrecommittedRead, r.value}); !reported[k] {
				reported[k] = true
				col.add(Anomaly{Type: PrecommittedRead, Topic: r.tp.Topic, Partition: r.tp.Partition,
					Values: []string{r.value}, Offsets: []int64{r.offset}, Ops: []OpRef{m.ref(w.op), m.ref(r.op)},
					Explanation: fmt.Sprintf("read_committed %s returned %q at %s@%d, written by %s, %s",
						m.describe(r.op), r.value, r.tp, r.offset, m.describe(w.op), why)})
			}
		}
	}
	return nil
}

// precommitted says why read r of w's value came before w's transaction
// could have committed, or "" when it did not.
func (m *txnModel) precommitted(r txnRead, w txnWrite) string {
	wop := &m.h.Ops[w.op]
	if wop.F != history.FTxn {
		return "" // a plain send is visible once acknowledged
	}
	if r.op == w.op {
		return "the transaction read its own send before committing"
	}
	x := m.txnValue(wop)
	if x == nil || x.EndTime == nil {
		return ""
	}
	if t := m.readTime(r); t < *x.EndTime {
		return fmt.Sprintf("the read had returned by %s but the writer asked to commit only at %s", seconds(t), seconds(*x.EndTime))
	}
	return ""
}

// checkLost reports committed writes the completed read_committed drain
// did not return, on partitions it read. It returns how many committed
// writes could not be judged (no completed drain of their topic).
func (m *txnModel) checkLost(col *collector) int {
	drained := map[string]bool{} // topics the drain read
	inDrain := map[string]bool{} // values it returned
	var maxDrained = map[history.TopicPartition]int64{}
	lastSeen := map[string]txnRead{}
	for _, r := range m.reads {
		if r.committed {
			lastSeen[r.value] = r
		}
		if r.drain && r.committed {
			drained[r.tp.Topic] = true
			inDrain[r.value] = true
			maxDrained[r.tp] = max(maxDrained[r.tp], r.offset)
		}
	}
	unjudged := 0
	for _, v := range slices.Sorted(maps.Keys(m.writes)) {
		w := m.writes[v]
		if w.outcome != outcomeCommitted || inDrain[v] {
			continue
		}
		if !m.drainDone || !drained[w.tp.Topic] {
			unjudged++
			continue
		}
		a := Anomaly{Type: LostWrite, Topic: w.tp.Topic, Partition: w.tp.Partition, Values: []string{v}, Ops: []OpRef{m.ref(w.op)}}
		if w.offset >= 0 {
			a.Offsets = []int64{w.offset}
		}
		upTo := "returned nothing from it"
		if o, ok := maxDrained[w.tp]; ok {
			upTo = fmt.Sprintf("read it up to offset %d", o)
		}
		a.Explanation = fmt.Sprintf("%q written to %s by %s, which committed (acknowledged at offset %d), was not returned by the completed read_committed drain (which %s)",
			v, w.tp, m.describe(w.op), w.offset, upTo)
		if r, ok := lastSeen[v]; ok {
			a.Ops = append(a.Ops, m.ref(r.op))
			a.Explanation += fmt.Sprintf("; %s had read it at offset %d", m.describe(r.op), r.offset)
		}
		col.add(a)
	}
	return unjudged
}
