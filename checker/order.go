package checker

import (
	"fmt"

	"github.com/highwater-io/highwater/history"
)

// lastRead is where a consumer session left off in one partition.
type lastRead struct {
	value  string
	offset int64
	op     *history.Op
}

// opsByProcess returns each process's operations in order (a process runs
// one operation at a time, so invoke order is completion order).
func (s *queueState) opsByProcess() (map[int][]*history.Op, []int) {
	by := map[int][]*history.Op{}
	var procs []int
	for i := range s.h.Ops {
		op := &s.h.Ops[i]
		if _, ok := by[op.Process]; !ok {
			procs = append(procs, op.Process)
		}
		by[op.Process] = append(by[op.Process], op)
	}
	return by, procs
}

// checkPolls walks each process's consumer session: successive ok polls of
// a partition must continue exactly where the previous one stopped, and
// records inside one poll must be consecutive. Assign, subscribe and
// rebalances start new sessions for the partitions they touch.
func (s *queueState) checkPolls() {
	by, procs := s.opsByProcess()
	for _, proc := range procs {
		last := map[history.TopicPartition]lastRead{}
		for _, op := range by[proc] {
			if op.Type() == history.TypeFail || op.Type() == history.TypeInvoke {
				continue
			}
			switch op.F {
			case history.FAssign:
				s.resetOnAssign(op, last)
			case history.FSubscribe:
				s.resetOnSubscribe(op, last)
			case history.FPoll:
				if op.Type() == history.TypeOK {
					s.checkPoll(op, last)
				} else {
					// An info poll may have moved the position by
					// records we never saw: continuity is unknowable.
					clear(last)
				}
			}
		}
	}
}

func (s *queueState) resetOnAssign(op *history.Op, last map[history.TopicPartition]lastRead) {
	a, ok := op.Invoke.Assign()
	if !ok {
		clear(last)
		return
	}
	keep := map[history.TopicPartition]bool{}
	for _, tp := range a.Partitions {
		keep[tp] = !a.SeekToBeginning
	}
	for tp := range last {
		if !keep[tp] {
			delete(last, tp)
		}
	}
}

func (s *queueState) resetOnSubscribe(op *history.Op, last map[history.TopicPartition]lastRead) {
	sub, ok := op.Invoke.Subscribe()
	if !ok {
		clear(last)
		return
	}
	topics := map[string]bool{}
	for _, t := range sub.Topics {
		topics[t] = true
	}
	for tp := range last {
		if !topics[tp.Topic] {
			delete(last, tp)
		}
	}
}

func (s *queueState) checkPoll(op *history.Op, last map[history.TopicPartition]lastRead) {
	poll, ok := op.Complete.Poll()
	if !ok {
		return
	}
	rebalanced := map[history.TopicPartition]bool{}
	for _, tp := range poll.Rebalanced {
		rebalanced[tp] = true
		delete(last, tp)
	}
	for _, pr := range poll.Partitions {
		tp := pr.TopicPartition()
		p := s.parts[tp]
		if p == nil || len(pr.Records) == 0 {
			continue
		}
		if prev, ok := last[tp]; ok {
			s.compareReads(p, PollSkip, NonmonotonicPoll, prev, lastRead{pr.Records[0].Value, pr.Records[0].Offset, op})
		}
		if !rebalanced[tp] {
			for i := 1; i < len(pr.Records); i++ {
				a, b := pr.Records[i-1], pr.Records[i]
				s.compareReads(p, IntPollSkip, IntNonmonotonicPoll, lastRead{a.Value, a.Offset, op}, lastRead{b.Value, b.Offset, op})
			}
		}
		r := pr.Records[len(pr.Records)-1]
		last[tp] = lastRead{r.Value, r.Offset, op}
	}
}

// compareReads checks that b directly follows a in the version order.
func (s *queueState) compareReads(p *partition, skipType, backType string, a, b lastRead) {
	i, ok1 := p.index(a.value)
	j, ok2 := p.index(b.value)
	if !ok1 || !ok2 || j == i+1 {
		return
	}
	an := Anomaly{Topic: p.tp.Topic, Partition: p.tp.Partition, Values: []string{a.value, b.value}, Offsets: []int64{a.offset, b.offset}}
	an.Ops = append(an.Ops, refOf(a.op))
	if b.op != a.op {
		an.Ops = append(an.Ops, refOf(b.op))
	}
	where := fmt.Sprintf("%s then %s", refOf(a.op), refOf(b.op))
	if a.op == b.op {
		where = "within " + refOf(a.op).String()
	}
	if j > i+1 {
		vals, offs := p.between(i, j)
		an.Type = skipType
		an.Explanation = fmt.Sprintf("%s read %q (offset %d) then %q (offset %d) of %s, skipping %d value(s) %q at offsets %v",
			where, a.value, a.offset, b.value, b.offset, p.tp, len(vals), vals, offs)
	} else {
		an.Type = backType
		move := "without advancing"
		if j < i {
			move = fmt.Sprintf("going back %d position(s) in the log", i-j)
		}
		an.Explanation = fmt.Sprintf("%s read %q (offset %d) then %q (offset %d) of %s, %s",
			where, a.value, a.offset, b.value, b.offset, p.tp, move)
	}
	s.out.add(an)
}

// checkSends: each process's sends to a partition must land in the order it
// made them, across operations (an ok send, then an ok or info one) and
// inside one.
func (s *queueState) checkSends() {
	by, procs := s.opsByProcess()
	for _, proc := range procs {
		last := map[history.TopicPartition]lastRead{}
		for _, op := range by[proc] {
			if op.F != history.FSend || (op.Type() != history.TypeOK && op.Type() != history.TypeInfo) {
				continue
			}
			send, ok := op.Invoke.Send()
			if !ok {
				continue
			}
			inOp := map[history.TopicPartition]bool{}
			for _, r := range send.Records {
				tp := r.TopicPartition()
				p := s.parts[tp]
				cur := lastRead{value: r.Value, offset: s.offsetOf(r.Value), op: op}
				if prev, ok := last[tp]; ok && p != nil {
					typ := NonmonotonicSend
					if inOp[tp] {
						typ = IntNonmonotonicSend
					}
					s.compareSends(p, typ, prev, cur)
				}
				inOp[tp] = true
				last[tp] = cur
			}
			if op.Type() == history.TypeInfo {
				// Its records may still land later, so nothing the
				// process sends next is ordered after them (Jepsen
				// retires a process after an info for the same reason).
				clear(last)
			}
		}
	}
}

// offsetOf returns the lowest offset a value was seen at, or -1.
func (s *queueState) offsetOf(v string) int64 {
	w := s.writes[v]
	if w == nil {
		return -1
	}
	if p := s.parts[w.tp]; p != nil && len(p.offsets[v]) > 0 {
		return p.offsets[v][0]
	}
	return -1
}

func (s *queueState) compareSends(p *partition, typ string, a, b lastRead) {
	i, ok1 := p.index(a.value)
	j, ok2 := p.index(b.value)
	if !ok1 || !ok2 || j > i {
		return
	}
	an := Anomaly{Type: typ, Topic: p.tp.Topic, Partition: p.tp.Partition, Values: []string{a.value, b.value}, Offsets: []int64{a.offset, b.offset}}
	an.Ops = append(an.Ops, refOf(a.op))
	where := fmt.Sprintf("%s then %s", refOf(a.op), refOf(b.op))
	if a.op != b.op {
		an.Ops = append(an.Ops, refOf(b.op))
	} else {
		where = "within " + refOf(a.op).String()
	}
	an.Explanation = fmt.Sprintf("%s sent %q then %q to %s, but they landed at offsets %d and %d",
		where, a.value, b.value, p.tp, a.offset, b.offset)
	s.out.add(an)
}
