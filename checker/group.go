package checker

import (
	"context"
	"fmt"
	"sort"

	"github.com/highwater-io/highwater/history"
)

// Anomaly types the Group checker reports.
const (
	// DoubleOwnership: two members of one group both owned a partition in
	// the same generation.
	DoubleOwnership = "double-ownership"
	// CommittedOffsetRegression: a group's committed offset for a
	// partition moved backwards.
	CommittedOffsetRegression = "committed-offset-regression"
	// CommittedOffsetSkip: a member newly assigned a partition started
	// consuming past every offset the group ever committed for it, so
	// records nobody committed were skipped.
	CommittedOffsetSkip = "committed-offset-skip"
)

// Group checks the consumer-group promises over the group consumers'
// polls (with the membership changes each recorded, [history.GroupEvent])
// and their synchronous commits (f commit, with member id and generation).
//
// Ownership: replaying one client's membership events in order (assigned
// adds partitions, revoked and lost remove them) gives the partitions the
// client owned right after joining each generation; with the cooperative
// protocol that includes partitions kept from earlier generations.
//
//   - double-ownership: two clients both owned partition p right after
//     joining the same generation g of one group. Stale members of older
//     generations are not owners of g: the broker fences them, which the
//     commit rules below check. Judged from generations, never from poll
//     timing, so a late revocation callback cannot cause a report.
//
// Commits: a partition of a commit is certainly committed when the commit
// (or that partition) completed ok, certainly not when it failed, and may
// have been otherwise. A commit precedes another when it completed before
// the other was invoked.
//
//   - committed-offset-regression, stale generation: a commit of p at
//     offset o by generation g succeeded although a commit of p at a higher
//     offset by generation g' > g had succeeded before it was invoked (the
//     broker must answer ILLEGAL_GENERATION once the group moved on).
//   - committed-offset-regression, lost commit: a client assigned p (in
//     poll P) first read p at offset r, below the offset o of a commit that
//     succeeded before P began, and every commit that could have set the
//     committed offset to r (offset r, not failed) certainly happened before
//     that commit: the offset the member resumed from had been overwritten.
//   - committed-offset-skip: a client assigned p first read p at offset r,
//     above every offset any commit of p (not failed, invoked before that
//     read) could have set — 0 when none — while records at offsets in
//     between are known to exist (some operation observed them): the
//     member skipped records nobody committed.
//
// Assumptions: the classic group protocol (one generation for the whole
// group; franz-go's default, KIP-848's per-member epochs are not modelled)
// and dense offsets (the queue workload: no transaction markers, no
// compaction), so a member resumes exactly at the committed offset.
//
// A history with group polls but no membership records (written before
// they were recorded) is not judged: Valid with a "skipped" finding.
type Group struct{}

// Name implements Checker.
func (*Group) Name() string { return "group" }

// groupCommit is one partition of one commit operation.
type groupCommit struct {
	op       *history.Op
	group    string
	tp       history.TopicPartition
	offset   int64
	member   string
	gen      int32 // -1 when the commit carried none
	result   history.Type
	complete int64 // index of the completion; -1 when it never completed
}

// groupKey names one partition of one group.
type groupKey struct {
	group string
	tp    history.TopicPartition
}

// ownerAt is one client's ownership right after joining a generation.
type ownerAt struct {
	process int
	member  string
	op      *history.Op // the poll whose membership events made it
}

type groupState struct {
	h        *history.History
	out      collector
	commits  map[groupKey][]*groupCommit
	observed map[history.TopicPartition]map[int64]string // offset → a value read or acked there
	// owners[group][generation][tp] lists the clients owning tp right
	// after joining that generation.
	owners     map[string]map[int32]map[history.TopicPartition][]ownerAt
	groupPolls int
	membership int
	resumes    int
}

// Check implements Checker.
func (*Group) Check(ctx context.Context, h *history.History) Result {
	s := &groupState{
		h: h, commits: map[groupKey][]*groupCommit{},
		observed: map[history.TopicPartition]map[int64]string{},
		owners:   map[string]map[int32]map[history.TopicPartition][]ownerAt{},
	}
	s.collect()
	stats := func() map[string]int64 {
		n := 0
		for _, cs := range s.commits {
			n += len(cs)
		}
		return map[string]int64{"group_polls": int64(s.groupPolls), "membership_events": int64(s.membership),
			"partition_commits": int64(n), "resumes": int64(s.resumes)}
	}
	if s.groupPolls > 0 && s.membership == 0 {
		// Nothing to judge, as the replicas checker does without a
		// snapshot: said as a finding rather than made fatal.
		return Result{Valid: Valid, Stats: stats(), Findings: []Anomaly{{Type: "skipped",
			Explanation: "group not checked: its polls carry no membership records (the history predates them)"}}}
	}
	s.checkStaleCommits()
	if err := ctx.Err(); err != nil {
		return Result{Valid: Unknown, Reason: fmt.Sprintf("stopped: %v", err), Stats: stats()}
	}
	s.walkMembers()
	s.checkOwners()
	r := Result{Valid: Valid, Counts: s.out.counts, Anomalies: s.out.anomalies, Stats: stats()}
	if len(s.out.counts) > 0 {
		r.Valid = Invalid
	}
	return r
}

// collect gathers commits per group partition and every observed offset.
func (s *groupState) collect() {
	for i := range s.h.Ops {
		op := &s.h.Ops[i]
		switch op.F {
		case history.FCommit:
			s.addCommit(op)
		case history.FPoll:
			if p, ok := op.Complete.Poll(); ok {
				if p.Group != "" {
					s.groupPolls++
					s.membership += len(p.Membership)
				}
				for _, pr := range p.Partitions {
					for _, r := range pr.Records {
						s.observe(pr.TopicPartition(), r.Offset, r.Value)
					}
				}
			}
		case history.FFetch:
			if f, ok := op.Complete.Fetch(); ok {
				for _, r := range f.Records {
					s.observe(f.TopicPartition(), r.Offset, r.Value)
				}
			}
		case history.FSend:
			if sd, ok := op.Complete.Send(); ok && op.Type() == history.TypeOK {
				for _, r := range sd.Records {
					if r.Offset != nil {
						s.observe(r.TopicPartition(), *r.Offset, r.Value)
					}
				}
			}
		}
	}
}

func (s *groupState) observe(tp history.TopicPartition, offset int64, value string) {
	m := s.observed[tp]
	if m == nil {
		m = map[int64]string{}
		s.observed[tp] = m
	}
	if _, ok := m[offset]; !ok {
		m[offset] = value
	}
}

func (s *groupState) addCommit(op *history.Op) {
	c, ok := op.Value().(*history.Commit)
	if !ok || c == nil || c.Group == "" {
		return
	}
	gen := int32(-1)
	if c.Generation != nil {
		gen = *c.Generation
	}
	for _, po := range c.Offsets {
		gc := &groupCommit{op: op, group: c.Group, tp: po.TopicPartition(), offset: po.Offset, member: c.MemberID,
			gen: gen, result: po.PartitionResult(op.Type()), complete: op.Complete.Index}
		k := groupKey{c.Group, gc.tp}
		s.commits[k] = append(s.commits[k], gc)
	}
}

// precedes reports whether the operation that made a completed before b's
// operation was invoked.
func (a *groupCommit) precedes(b *history.Op) bool {
	return a.complete >= 0 && a.complete < b.Invoke.Index
}

func (c *groupCommit) String() string {
	who := "no member"
	if c.member != "" || c.gen >= 0 {
		who = fmt.Sprintf("member %q generation %d", c.member, c.gen)
	}
	return fmt.Sprintf("commit op#%d (process %d, %s, %s) of offset %d", c.op.Invoke.Index, c.op.Process, who, c.result, c.offset)
}

// checkStaleCommits reports ok commits of a stale generation that lowered
// an offset a newer generation had committed before.
func (s *groupState) checkStaleCommits() {
	for _, k := range s.commitKeys() {
		var done []*groupCommit // certainly committed, by completion
		for _, c := range s.commits[k] {
			if c.result == history.TypeOK && c.gen >= 0 && c.complete >= 0 {
				done = append(done, c)
			}
		}
		sort.Slice(done, func(i, j int) bool { return done[i].complete < done[j].complete })
		byInvoke := append([]*groupCommit(nil), done...)
		sort.Slice(byInvoke, func(i, j int) bool { return byInvoke[i].op.Invoke.Index < byInvoke[j].op.Invoke.Index })
		best := map[int32]*groupCommit{} // generation → highest committed offset so far
		next := 0
		for _, y := range byInvoke {
			for ; next < len(done) && done[next].precedes(y.op); next++ {
				x := done[next]
				if b := best[x.gen]; b == nil || x.offset > b.offset {
					best[x.gen] = x
				}
			}
			var worst *groupCommit
			for gen, x := range best {
				if gen > y.gen && x.offset > y.offset && (worst == nil || x.offset > worst.offset) {
					worst = x
				}
			}
			if worst != nil {
				s.out.add(Anomaly{
					Type: CommittedOffsetRegression, Topic: k.tp.Topic, Partition: k.tp.Partition,
					Offsets: []int64{worst.offset, y.offset}, Ops: []OpRef{refOf(worst.op), refOf(y.op)},
					Start: worst.op.Complete.Time, End: y.op.Complete.Time,
					Explanation: fmt.Sprintf("group %s %s: %s succeeded, then %s also succeeded although generation %d is older: the committed offset went back from %d to %d (a stale generation's commit must be refused with ILLEGAL_GENERATION)",
						k.group, k.tp, worst, y, y.gen, worst.offset, y.offset),
				})
			}
		}
	}
}

func (s *groupState) commitKeys() []groupKey {
	keys := make([]groupKey, 0, len(s.commits))
	for k := range s.commits {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.group != b.group {
			return a.group < b.group
		}
		if a.tp.Topic != b.tp.Topic {
			return a.tp.Topic < b.tp.Topic
		}
		return a.tp.Partition < b.tp.Partition
	})
	return keys
}
