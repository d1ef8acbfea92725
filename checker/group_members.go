package checker

import (
	"fmt"
	"sort"

	"github.com/highwater-io/highwater/history"
)

// assignment is a partition a client was assigned and has not read yet.
type assignment struct {
	poll   *history.Op // the poll whose membership events assigned it
	member string
	gen    int32
}

// walkMembers replays each group client's membership events: it records
// who owned what right after joining each generation and checks where
// each newly assigned partition was first read.
func (s *groupState) walkMembers() {
	by := map[int][]*history.Op{}
	var procs []int
	for i := range s.h.Ops {
		op := &s.h.Ops[i]
		if op.F != history.FPoll {
			continue
		}
		if _, ok := by[op.Process]; !ok {
			procs = append(procs, op.Process)
		}
		by[op.Process] = append(by[op.Process], op)
	}
	for _, proc := range procs {
		s.walkMember(proc, by[proc])
	}
}

func (s *groupState) walkMember(proc int, polls []*history.Op) {
	owned := map[history.TopicPartition]bool{}
	pending := map[history.TopicPartition]assignment{}
	for _, op := range polls {
		p, ok := op.Complete.Poll()
		if !ok || op.Type() != history.TypeOK {
			// The position after an unrecorded poll is unknown.
			clear(pending)
			continue
		}
		if p.Group == "" {
			continue
		}
		for _, ev := range p.Membership {
			switch ev.Kind {
			case history.GroupAssigned:
				for _, tp := range ev.Partitions {
					owned[tp] = true
					pending[tp] = assignment{poll: op, member: ev.MemberID, gen: ev.Generation}
				}
				s.noteOwners(p.Group, ev, proc, op, owned)
			case history.GroupRevoked, history.GroupLost:
				for _, tp := range ev.Partitions {
					delete(owned, tp)
					delete(pending, tp)
				}
			}
		}
		for _, pr := range p.Partitions {
			tp := pr.TopicPartition()
			a, ok := pending[tp]
			if !ok || len(pr.Records) == 0 {
				continue
			}
			delete(pending, tp)
			s.resumes++
			s.checkResume(p.Group, tp, a, op, pr.Records[0])
		}
	}
}

func (s *groupState) noteOwners(group string, ev history.GroupEvent, proc int, op *history.Op, owned map[history.TopicPartition]bool) {
	byGen := s.owners[group]
	if byGen == nil {
		byGen = map[int32]map[history.TopicPartition][]ownerAt{}
		s.owners[group] = byGen
	}
	byTP := byGen[ev.Generation]
	if byTP == nil {
		byTP = map[history.TopicPartition][]ownerAt{}
		byGen[ev.Generation] = byTP
	}
	for tp := range owned {
		known := false
		for _, o := range byTP[tp] {
			known = known || o.process == proc
		}
		if !known {
			byTP[tp] = append(byTP[tp], ownerAt{process: proc, member: ev.MemberID, op: op})
		}
	}
}

// checkOwners reports partitions two clients owned in one generation.
func (s *groupState) checkOwners() {
	groups := make([]string, 0, len(s.owners))
	for g := range s.owners {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		gens := make([]int32, 0, len(s.owners[g]))
		for gen := range s.owners[g] {
			gens = append(gens, gen)
		}
		sort.Slice(gens, func(i, j int) bool { return gens[i] < gens[j] })
		for _, gen := range gens {
			if gen < 0 {
				continue // no generation: not a member of any
			}
			byTP := s.owners[g][gen]
			for _, tp := range sortedTPs(byTP) {
				if os := byTP[tp]; len(os) > 1 {
					s.out.add(doubleOwner(g, gen, tp, os))
				}
			}
		}
	}
}

func doubleOwner(group string, gen int32, tp history.TopicPartition, os []ownerAt) Anomaly {
	a := Anomaly{Type: DoubleOwnership, Topic: tp.Topic, Partition: tp.Partition}
	desc := ""
	for i, o := range os {
		a.Ops = append(a.Ops, refOf(o.op))
		if i > 0 {
			desc += " and "
		}
		desc += fmt.Sprintf("member %q (process %d, joined in poll op#%d)", o.member, o.process, o.op.Invoke.Index)
	}
	a.Start, a.End = os[0].op.Complete.Time, os[len(os)-1].op.Complete.Time
	a.Explanation = fmt.Sprintf("group %s generation %d: %s both owned %s", group, gen, desc, tp)
	return a
}

func sortedTPs[V any](m map[history.TopicPartition]V) []history.TopicPartition {
	out := make([]history.TopicPartition, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// checkResume judges where a client assigned tp in poll a.poll first read
// it: record first, returned by poll at.
func (s *groupState) checkResume(group string, tp history.TopicPartition, a assignment, at *history.Op, first history.Record) {
	cs := s.commits[groupKey{group, tp}]
	r := first.Offset
	who := fmt.Sprintf("member %q (process %d, generation %d) was assigned %s in poll op#%d and first read it at offset %d (%q) in poll op#%d",
		a.member, at.Process, a.gen, tp, a.poll.Invoke.Index, r, first.Value, at.Invoke.Index)
	// Lost commit: an acknowledged commit above r, made before the
	// assignment, that overwrote every commit that could have said r.
	var lost *groupCommit
	for _, x := range cs {
		if x.result != history.TypeOK || x.offset <= r || !x.precedes(a.poll) || (lost != nil && x.offset <= lost.offset) {
			continue
		}
		if s.overwritesAll(cs, x, r, at) {
			lost = x
		}
	}
	if lost != nil {
		s.out.add(Anomaly{
			Type: CommittedOffsetRegression, Topic: tp.Topic, Partition: tp.Partition,
			Offsets: []int64{lost.offset, r}, Values: []string{first.Value},
			Ops: []OpRef{refOf(lost.op), refOf(a.poll), refOf(at)}, Start: lost.op.Complete.Time, End: at.Complete.Time,
			Explanation: fmt.Sprintf("group %s: %s had succeeded before the assignment, yet %s: the committed offset went back from %d to %d",
				group, lost, who, lost.offset, r),
		})
	}
	// Skip: r above every offset any commit could have set.
	var upper int64
	var by *groupCommit
	for _, c := range cs {
		if c.result != history.TypeFail && c.op.Invoke.Index < at.Complete.Index && c.offset > upper {
			upper, by = c.offset, c
		}
	}
	if r <= upper {
		return
	}
	var skipped []int64
	for o := range s.observed[tp] {
		if o >= upper && o < r {
			skipped = append(skipped, o)
		}
	}
	if len(skipped) == 0 {
		return
	}
	sort.Slice(skipped, func(i, j int) bool { return skipped[i] < skipped[j] })
	vals := make([]string, 0, min(len(skipped), 10))
	for _, o := range skipped[:min(len(skipped), 10)] {
		vals = append(vals, s.observed[tp][o])
	}
	bound := "no commit of it could have taken effect (so it had to start at the log start)"
	ops := []OpRef{refOf(a.poll), refOf(at)}
	if by != nil {
		bound = fmt.Sprintf("the highest offset any commit could have set was %d (%s)", upper, by)
		ops = append(ops, refOf(by.op))
	}
	s.out.add(Anomaly{
		Type: CommittedOffsetSkip, Topic: tp.Topic, Partition: tp.Partition, Offsets: skipped, Values: vals, Ops: ops,
		Start: a.poll.Invoke.Time, End: at.Complete.Time,
		Explanation: fmt.Sprintf("group %s: %s, but %s: %d record(s) known at offsets %d..%d (first %q) were skipped uncommitted",
			group, who, bound, len(skipped), skipped[0], skipped[len(skipped)-1], vals[0]),
	})
}

// overwritesAll reports whether x certainly followed every commit that
// could have set tp's committed offset to r before poll at read it.
func (s *groupState) overwritesAll(cs []*groupCommit, x *groupCommit, r int64, at *history.Op) bool {
	for _, c := range cs {
		if c.offset != r || c.result == history.TypeFail || c.op.Invoke.Index >= at.Complete.Index {
			continue
		}
		if c.result != history.TypeOK || !c.precedes(x.op) {
			return false
		}
	}
	return true
}
