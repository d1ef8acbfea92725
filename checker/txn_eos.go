package checker

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/highwater-io/highwater/history"
)

// ExactlyOnce checks a consume-transform-produce (eos) history: every
// input value the group consumed (below the group's committed offset, as
// read back by the last ok group-offsets op) yields exactly one committed
// output, and no output is committed for an input the group did not
// consume. Outputs name their input in the record key; the committed
// outputs are those the completed read_committed drain returned.
//
// Anomalies: eos-lost (a consumed input without a committed output),
// eos-duplicate (an input with two or more committed outputs),
// eos-unconsumed-output (a committed output whose input lies at or beyond
// the group's committed offset). Without a completed drain or a
// group-offsets read the verdict is at best Unknown.
type ExactlyOnce struct{}

// Name implements Checker.
func (*ExactlyOnce) Name() string { return "exactly-once" }

// eosInput is one value of the input topic.
type eosInput struct {
	tp     history.TopicPartition
	offset int64 // -1: never observed at an offset
	op     int
}

// Check implements Checker.
func (c *ExactlyOnce) Check(ctx context.Context, h *history.History) Result {
	m, err := buildTxnModel(ctx, h)
	if err != nil {
		return Result{Valid: Unknown, Reason: fmt.Sprintf("exactly-once: %v", err)}
	}
	inTopics, group := m.eosTopics()
	if len(inTopics) == 0 {
		return Result{Valid: Unknown, Reason: "no consume-transform-produce transactions (txn ops with a group and reads)"}
	}
	committed, ok := m.groupOffsets(group)
	inputs := m.eosInputs(inTopics)
	// outputs: input value → distinct committed output values (by drain).
	outputs := map[string][]string{}
	outOp := map[string]int{}
	for _, r := range m.reads {
		if !r.drain || !r.committed || inTopics[r.tp.Topic] {
			continue
		}
		w, known := m.writes[r.value]
		if !known || w.key == "" || m.h.Ops[w.op].F != history.FTxn {
			continue
		}
		if _, dup := outOp[r.value]; dup {
			continue // one output read twice is the txn checker's duplicate
		}
		outOp[r.value] = w.op
		outputs[w.key] = append(outputs[w.key], r.value)
	}
	var col collector
	lost := 0
	for _, in := range slices.Sorted(maps.Keys(inputs)) {
		if ctx.Err() != nil {
			return Result{Valid: Unknown, Reason: fmt.Sprintf("exactly-once: %v", ctx.Err())}
		}
		x := inputs[in]
		outs := outputs[in]
		consumed := ok && x.offset >= 0 && x.offset < committed[x.tp]
		switch {
		case len(outs) > 1:
			a := Anomaly{Type: EOSDuplicate, Topic: x.tp.Topic, Partition: x.tp.Partition, Values: append([]string{in}, outs...)}
			for _, o := range outs {
				a.Ops = append(a.Ops, m.ref(outOp[o]))
			}
			a.Explanation = fmt.Sprintf("input %q (%s@%d) yielded %d committed outputs %v, by %s and %s",
				in, x.tp, x.offset, len(outs), outs, m.describe(outOp[outs[0]]), m.describe(outOp[outs[1]]))
			col.add(a)
		case len(outs) == 1 && ok && !consumed:
			col.add(Anomaly{Type: EOSUnconsumedWrite, Topic: x.tp.Topic, Partition: x.tp.Partition,
				Values: []string{in, outs[0]}, Ops: []OpRef{m.ref(outOp[outs[0]])},
				Explanation: fmt.Sprintf("output %q of input %q (%s@%d) committed by %s, but group %s's committed offset of %s is %d: the input would be consumed again",
					outs[0], in, x.tp, x.offset, m.describe(outOp[outs[0]]), group, x.tp, committed[x.tp])})
		case len(outs) == 0 && consumed && m.drainDone:
			col.add(Anomaly{Type: EOSLost, Topic: x.tp.Topic, Partition: x.tp.Partition,
				Values: []string{in}, Offsets: []int64{x.offset}, Ops: []OpRef{m.ref(x.op)},
				Explanation: fmt.Sprintf("input %q (%s@%d) is below group %s's committed offset %d but no committed output names it in the read_committed drain",
					in, x.tp, x.offset, group, committed[x.tp])})
		case len(outs) == 0 && consumed:
			lost++
		}
	}
	r := Result{Counts: col.counts, Anomalies: col.anomalies, Stats: map[string]int64{
		"inputs": int64(len(inputs)), "outputs-committed": int64(len(outOp)), "unjudged": int64(lost)}}
	switch {
	case len(col.counts) > 0:
		r.Valid = Invalid
	case !ok:
		r.Valid, r.Reason = Unknown, fmt.Sprintf("no ok group-offsets read of group %q", group)
	case !m.drainDone:
		r.Valid, r.Reason = Unknown, "no completed read_committed drain: committed outputs unknown"
	default:
		r.Valid = Valid
	}
	return r
}

// eosTopics returns the topics consume-transform-produce transactions read
// (their input) and their group.
func (m *txnModel) eosTopics() (map[string]bool, string) {
	in := map[string]bool{}
	group := ""
	for _, i := range m.txnOps {
		x := m.txnValue(&m.h.Ops[i])
		if x == nil || x.Group == "" {
			continue
		}
		group = x.Group
		for _, pr := range x.Reads {
			in[pr.Topic] = true
		}
		for _, o := range x.Offsets {
			in[o.Topic] = true
		}
	}
	return in, group
}

// groupOffsets returns the committed offsets of the last ok group-offsets
// op of group.
func (m *txnModel) groupOffsets(group string) (map[history.TopicPartition]int64, bool) {
	for i := len(m.h.Ops) - 1; i >= 0; i-- {
		op := &m.h.Ops[i]
		if op.F != history.FGroupOffsets || op.Type() != history.TypeOK {
			continue
		}
		c, ok := op.Complete.Value.(*history.Commit)
		if !ok || c == nil || (group != "" && c.Group != group) {
			continue
		}
		out := map[history.TopicPartition]int64{}
		for _, o := range c.Offsets {
			out[history.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
		}
		return out, true
	}
	return nil, false
}

// eosInputs returns the acknowledged values of the input topics and the
// offset each was acknowledged or first read at.
func (m *txnModel) eosInputs(topics map[string]bool) map[string]eosInput {
	out := map[string]eosInput{}
	for v, w := range m.writes {
		if topics[w.tp.Topic] && w.outcome == outcomeCommitted {
			out[v] = eosInput{tp: w.tp, offset: w.offset, op: w.op}
		}
	}
	for _, r := range m.reads {
		if x, ok := out[r.value]; ok && x.offset < 0 {
			x.offset = r.offset
			out[r.value] = x
		}
	}
	return out
}
