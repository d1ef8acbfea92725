package checker

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/highwater-io/highwater/history"
)

// Anomaly types the Queue checker reports; doc.go defines each.
const (
	LostWrite           = "lost-write"
	Unseen              = "unseen"
	InconsistentOffsets = "inconsistent-offsets"
	Duplicate           = "duplicate"
	PollSkip            = "poll-skip"
	NonmonotonicPoll    = "nonmonotonic-poll"
	IntPollSkip         = "int-poll-skip"
	IntNonmonotonicPoll = "int-nonmonotonic-poll"
	NonmonotonicSend    = "nonmonotonic-send"
	IntNonmonotonicSend = "int-nonmonotonic-send"
	Unexpected          = "unexpected"
	AbortedRead         = "G1a"
	NotLinearizable     = "not-linearizable"
)

// Queue checks the Jepsen Kafka queue anomalies over sends, polls and
// fetches. It needs a completed final drain (phases drain then done) to
// judge unseen records; without one its verdict is at best Unknown.
type Queue struct{}

// Name implements Checker.
func (*Queue) Name() string { return "queue" }

// write is what the history says about one sent value.
type write struct {
	op     *history.Op
	tp     history.TopicPartition
	offset int64 // acknowledged offset, -1 unless ok with an offset
}

// seen is one (offset, value) observation and the op that made it.
type seen struct {
	offset int64
	value  string
	op     *history.Op
}

// partition holds the observations of one topic-partition and the version
// order derived from them.
type partition struct {
	tp       history.TopicPartition
	byOffset map[int64][]seen       // distinct values at each offset, first observer of each
	readers  map[string]*history.Op // value → first op that read it
	offsets  map[string][]int64     // value → distinct offsets it was seen at
	maxRead  seen                   // highest offset returned by a read
	hasRead  bool
	// version order: observed offsets ascending; a value's index is the
	// rank of the lowest offset it was seen at.
	order []int64
	rank  map[int64]int
}

func newPartition(tp history.TopicPartition) *partition {
	return &partition{tp: tp, byOffset: map[int64][]seen{}, readers: map[string]*history.Op{}, offsets: map[string][]int64{}}
}

func (p *partition) observe(s seen, isRead bool) {
	vals := p.byOffset[s.offset]
	known := false
	for _, v := range vals {
		if v.value == s.value {
			known = true
			break
		}
	}
	if !known {
		p.byOffset[s.offset] = append(vals, s)
	}
	if !slices.Contains(p.offsets[s.value], s.offset) {
		p.offsets[s.value] = append(p.offsets[s.value], s.offset)
	}
	if isRead {
		if _, ok := p.readers[s.value]; !ok {
			p.readers[s.value] = s.op
		}
		if !p.hasRead || s.offset > p.maxRead.offset {
			p.maxRead, p.hasRead = s, true
		}
	}
}

func (p *partition) buildOrder() {
	p.order = make([]int64, 0, len(p.byOffset))
	for o := range p.byOffset {
		p.order = append(p.order, o)
	}
	slices.Sort(p.order)
	p.rank = make(map[int64]int, len(p.order))
	for i, o := range p.order {
		p.rank[o] = i
	}
	for _, offs := range p.offsets {
		slices.Sort(offs)
	}
}

// index returns the value's position in the version order.
func (p *partition) index(v string) (int, bool) {
	offs := p.offsets[v]
	if len(offs) == 0 {
		return 0, false
	}
	return p.rank[offs[0]], true
}

// between lists the values strictly between version-order indices i and j.
func (p *partition) between(i, j int) ([]string, []int64) {
	var vals []string
	var offs []int64
	for k := i + 1; k < j && k < len(p.order); k++ {
		o := p.order[k]
		offs = append(offs, o)
		vals = append(vals, p.byOffset[o][0].value)
	}
	return vals, offs
}

// queueState is the whole analysis of one history.
type queueState struct {
	h        *history.History
	writes   map[string]*write
	parts    map[history.TopicPartition]*partition
	out      collector
	problems []string // broken preconditions
}

// Check implements Checker.
func (q *Queue) Check(ctx context.Context, h *history.History) Result {
	s := &queueState{h: h, writes: map[string]*write{}, parts: map[history.TopicPartition]*partition{}}
	s.collect()
	for _, p := range s.parts {
		p.buildOrder()
	}
	if err := ctx.Err(); err != nil {
		return Result{Valid: Unknown, Reason: "cancelled: " + err.Error()}
	}
	for _, tp := range s.sortedPartitions() {
		p := s.parts[tp]
		s.checkOffsets(p)
		s.checkReadsHaveWriters(p)
	}
	drained := s.drained()
	s.checkLostAndUnseen(drained)
	s.checkPolls()
	s.checkSends()
	if err := ctx.Err(); err != nil {
		return Result{Valid: Unknown, Reason: "cancelled: " + err.Error()}
	}
	r := Result{Counts: s.out.counts, Anomalies: s.out.anomalies, Stats: map[string]int64{
		"partitions": int64(len(s.parts)), "values_sent": int64(len(s.writes)),
	}}
	switch {
	case len(s.out.anomalies) > 0:
		r.Valid = Invalid
	case len(s.problems) > 0:
		r.Valid, r.Reason = Unknown, s.problems[0]
	case !drained:
		r.Valid, r.Reason = Unknown, "no completed final drain (phases drain, done): unseen records cannot be judged"
	default:
		r.Valid = Valid
	}
	return r
}

func (s *queueState) part(tp history.TopicPartition) *partition {
	p := s.parts[tp]
	if p == nil {
		p = newPartition(tp)
		s.parts[tp] = p
	}
	return p
}

func (s *queueState) sortedPartitions() []history.TopicPartition {
	tps := make([]history.TopicPartition, 0, len(s.parts))
	for tp := range s.parts {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	return tps
}

// collect indexes writers and every (offset, value) observation.
func (s *queueState) collect() {
	for i := range s.h.Ops {
		op := &s.h.Ops[i]
		switch op.F {
		case history.FSend:
			s.collectSend(op)
		case history.FPoll:
			if v, ok := op.Complete.Poll(); ok {
				for _, pr := range v.Partitions {
					p := s.part(pr.TopicPartition())
					for _, r := range pr.Records {
						p.observe(seen{offset: r.Offset, value: r.Value, op: op}, true)
					}
				}
			}
		case history.FFetch:
			if v, ok := op.Complete.Fetch(); ok {
				p := s.part(v.TopicPartition())
				for _, r := range v.Records {
					p.observe(seen{offset: r.Offset, value: r.Value, op: op}, true)
				}
			}
		}
	}
}

func (s *queueState) collectSend(op *history.Op) {
	inv, ok := op.Invoke.Send()
	if !ok {
		s.problems = append(s.problems, fmt.Sprintf("send op#%d has no records", op.Invoke.Index))
		return
	}
	acked := map[string]int64{}
	if done, ok := op.Complete.Send(); ok && op.Type() == history.TypeOK {
		for _, r := range done.Records {
			if r.Offset != nil {
				acked[r.Value] = *r.Offset
			}
		}
	}
	for _, r := range inv.Records {
		if prev, dup := s.writes[r.Value]; dup {
			s.problems = append(s.problems, fmt.Sprintf("value %q sent twice (op#%d and op#%d): values must be unique", r.Value, prev.op.Invoke.Index, op.Invoke.Index))
			continue
		}
		w := &write{op: op, tp: r.TopicPartition(), offset: -1}
		if o, ok := acked[r.Value]; ok {
			w.offset = o
			s.part(w.tp).observe(seen{offset: o, value: r.Value, op: op}, false)
		}
		s.writes[r.Value] = w
	}
}

// drained reports whether the history records a completed final drain.
func (s *queueState) drained() bool {
	drain, ok := s.h.Phase(history.PhaseDrain)
	if !ok {
		return false
	}
	done, ok := s.h.Phase(history.PhaseDone)
	return ok && done.Index > drain.Index
}

func describeSeen(v seen) string {
	if v.op.F == history.FSend {
		return fmt.Sprintf("%q (acknowledged by %s)", v.value, refOf(v.op))
	}
	return fmt.Sprintf("%q (read by %s)", v.value, refOf(v.op))
}

// checkOffsets finds offsets with two values and values at two offsets.
func (s *queueState) checkOffsets(p *partition) {
	for _, o := range p.order {
		vals := p.byOffset[o]
		if len(vals) < 2 {
			continue
		}
		a := Anomaly{Type: InconsistentOffsets, Topic: p.tp.Topic, Partition: p.tp.Partition, Offsets: []int64{o}}
		desc := ""
		for i, v := range vals {
			a.Values = append(a.Values, v.value)
			a.Ops = append(a.Ops, refOf(v.op))
			if i > 0 {
				desc += ", "
			}
			desc += describeSeen(v)
		}
		a.Explanation = fmt.Sprintf("offset %d of %s holds %d different values: %s", o, p.tp, len(vals), desc)
		s.out.add(a)
	}
	values := make([]string, 0, len(p.offsets))
	for v, offs := range p.offsets {
		if len(offs) > 1 {
			values = append(values, v)
		}
	}
	slices.Sort(values)
	for _, v := range values {
		offs := p.offsets[v]
		a := Anomaly{Type: Duplicate, Topic: p.tp.Topic, Partition: p.tp.Partition, Values: []string{v}, Offsets: offs}
		for _, o := range offs {
			for _, sv := range p.byOffset[o] {
				if sv.value == v {
					a.Ops = append(a.Ops, refOf(sv.op))
				}
			}
		}
		a.Explanation = fmt.Sprintf("value %q appears at %d offsets of %s: %v", v, len(offs), p.tp, offs)
		s.out.add(a)
	}
}

// checkReadsHaveWriters flags values read that no send could have written:
// never sent to this partition (unexpected) or sent by a failed send (G1a).
func (s *queueState) checkReadsHaveWriters(p *partition) {
	for _, o := range p.order {
		for _, v := range p.byOffset[o] {
			if v.op.F == history.FSend {
				continue
			}
			w := s.writes[v.value]
			switch {
			case w == nil:
				s.out.add(Anomaly{Type: Unexpected, Topic: p.tp.Topic, Partition: p.tp.Partition,
					Values: []string{v.value}, Offsets: []int64{o}, Ops: []OpRef{refOf(v.op)},
					Explanation: fmt.Sprintf("%s returned value %q at offset %d of %s, which no send ever invoked", refOf(v.op), v.value, o, p.tp)})
			case w.tp != p.tp:
				s.out.add(Anomaly{Type: Unexpected, Topic: p.tp.Topic, Partition: p.tp.Partition,
					Values: []string{v.value}, Offsets: []int64{o}, Ops: []OpRef{refOf(v.op), refOf(w.op)},
					Explanation: fmt.Sprintf("%s returned value %q at offset %d of %s, but %s sent it to %s", refOf(v.op), v.value, o, p.tp, refOf(w.op), w.tp)})
			case w.op.Type() == history.TypeFail:
				s.out.add(Anomaly{Type: AbortedRead, Topic: p.tp.Topic, Partition: p.tp.Partition,
					Values: []string{v.value}, Offsets: []int64{o}, Ops: []OpRef{refOf(v.op), refOf(w.op)},
					Explanation: fmt.Sprintf("%s returned value %q at offset %d of %s, written by %s, which failed", refOf(v.op), v.value, o, p.tp, refOf(w.op))})
			}
		}
	}
}

// checkLostAndUnseen: an acknowledged value never read is lost when some
// read returned a higher offset of its partition, unseen otherwise.
func (s *queueState) checkLostAndUnseen(drained bool) {
	values := make([]string, 0, len(s.writes))
	for v, w := range s.writes {
		if w.op.Type() == history.TypeOK {
			values = append(values, v)
		}
	}
	slices.Sort(values)
	for _, v := range values {
		w := s.writes[v]
		p := s.part(w.tp)
		if _, read := p.readers[v]; read {
			continue
		}
		a := Anomaly{Topic: w.tp.Topic, Partition: w.tp.Partition, Values: []string{v}, Ops: []OpRef{refOf(w.op)}}
		if w.offset >= 0 {
			a.Offsets = []int64{w.offset}
		}
		switch {
		case w.offset >= 0 && p.hasRead && w.offset <= p.maxRead.offset:
			a.Type = LostWrite
			a.Offsets = append(a.Offsets, p.maxRead.offset)
			a.Ops = append(a.Ops, refOf(p.maxRead.op))
			a.Explanation = fmt.Sprintf("value %q acknowledged at offset %d of %s by %s was never read, yet %s read offset %d",
				v, w.offset, w.tp, refOf(w.op), refOf(p.maxRead.op), p.maxRead.offset)
		case drained:
			a.Type = Unseen
			a.Explanation = fmt.Sprintf("value %q acknowledged at offset %d of %s by %s was never read, not even by the final drain",
				v, w.offset, w.tp, refOf(w.op))
		default:
			continue
		}
		s.out.add(a)
	}
}
