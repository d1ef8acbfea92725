package checker

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/highwater-io/highwater/history"
)

// groupSim plays a correct consumer group (the broker keeps committed
// offsets and refuses stale generations) and records what its members
// would: membership events delivered at each member's next poll (so
// revocations arrive late, as callbacks do), polls, and commits right
// after them.
type groupSim struct {
	t         *rapid.T
	b         *hb
	parts     int32
	records   int64 // records per partition, offsets 0..records-1
	gen       int32
	committed map[int32]int64
	members   []*simMember
	// bug plants one broker fault for the negative properties; planted
	// says it took effect.
	bug     string
	planted bool
	// maybe is the highest offset any commit not refused asked for, per
	// partition.
	maybe map[int32]int64
	// okBy is, per partition and generation, the highest offset an ok
	// commit set.
	okBy map[int32]map[int32]int64
}

type simMember struct {
	proc    int
	id      string
	gen     int32 // generation it last joined; -1 when fenced
	owned   map[int32]bool
	pos     map[int32]int64
	pending []history.GroupEvent
	// fetch lists added partitions whose committed offset the member
	// reads when its next poll delivers the assignment (franz-go fetches
	// offsets after the callback, which runs inside a poll).
	fetch map[int32]bool
	// skipped marks partitions whose planted skip has not been read yet.
	skipped map[int32]bool
}

func newGroupSim(t *rapid.T, bug string) *groupSim {
	s := &groupSim{t: t, b: newHB(t), bug: bug, committed: map[int32]int64{}, maybe: map[int32]int64{}, okBy: map[int32]map[int32]int64{}}
	s.parts = rapid.Int32Range(1, 3).Draw(t, "parts")
	s.records = int64(rapid.IntRange(5, 30).Draw(t, "records"))
	for p := range s.parts {
		for o := range s.records {
			s.b.must(s.b.w.Invoke(500, history.FSend, &history.Send{Records: []history.SendRecord{{Topic: "t", Partition: p, Value: val(p, o)}}}))
			s.b.must(s.b.w.Ok(500, &history.Send{Records: []history.SendRecord{{Topic: "t", Partition: p, Value: val(p, o), Offset: history.Int64(o)}}}))
		}
	}
	n := rapid.IntRange(2, 3).Draw(t, "members")
	for i := range n {
		s.members = append(s.members, &simMember{proc: i + 1, gen: -1, owned: map[int32]bool{}, pos: map[int32]int64{}, fetch: map[int32]bool{}})
	}
	return s
}

func val(p int32, o int64) string { return fmt.Sprintf("p%d-o%d", p, o) }

func parts(ps []int32) []history.TopicPartition {
	var out []history.TopicPartition
	for _, p := range ps {
		out = append(out, gtp(p))
	}
	return out
}

// rebalance starts a generation over a random subset of the members; the
// others are fenced.
func (s *groupSim) rebalance() {
	s.gen++
	in := map[int]bool{}
	for i := range s.members {
		in[i] = rapid.Bool().Draw(s.t, "in")
	}
	var live []int
	for i := range s.members {
		if in[i] {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		live, in[0] = []int{0}, true
	}
	next := map[int]map[int32]bool{}
	for p := range s.parts {
		i := live[rapid.IntRange(0, len(live)-1).Draw(s.t, "owner")]
		if next[i] == nil {
			next[i] = map[int32]bool{}
		}
		next[i][p] = true
		if s.bug == "double" && len(live) > 1 && p == 0 {
			j := live[(indexOf(live, i)+1)%len(live)]
			if next[j] == nil {
				next[j] = map[int32]bool{}
			}
			next[j][p] = true
			s.planted = true
		}
	}
	for i, m := range s.members {
		if !in[i] {
			if m.gen >= 0 && rapid.Bool().Draw(s.t, "notices") {
				m.fence() // otherwise a zombie until it polls
			}
			continue
		}
		if m.gen < 0 {
			m.id = fmt.Sprintf("m%d-g%d", m.proc, s.gen)
		}
		var revoked, added []int32
		for p := range s.parts {
			switch {
			case m.owned[p] && !next[i][p]:
				revoked = append(revoked, p)
				delete(m.owned, p)
				delete(m.fetch, p)
			case !m.owned[p] && next[i][p]:
				added = append(added, p)
				m.owned[p] = true
				m.fetch[p] = true
			}
		}
		m.gen = s.gen
		if len(revoked) > 0 {
			m.pending = append(m.pending, history.GroupEvent{Kind: history.GroupRevoked, MemberID: m.id, Generation: s.gen, Partitions: parts(revoked)})
		}
		m.pending = append(m.pending, history.GroupEvent{Kind: history.GroupAssigned, MemberID: m.id, Generation: s.gen, Partitions: parts(added)})
	}
	for i, m := range s.members {
		if !in[i] && m.gen >= 0 {
			m.gen = -2 - m.gen // fenced but unaware: keeps its old generation for commits
		}
	}
}

func indexOf(xs []int, x int) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return 0
}

// fence records that the member learnt it was fenced.
func (m *simMember) fence() {
	var lost []int32
	for p := range m.owned {
		lost = append(lost, p)
	}
	gen := m.gen
	if gen < -1 {
		gen = -2 - gen
	}
	m.pending = append(m.pending, history.GroupEvent{Kind: history.GroupLost, MemberID: m.id, Generation: gen, Partitions: parts(lost)})
	m.owned, m.pos, m.fetch, m.gen = map[int32]bool{}, map[int32]int64{}, map[int32]bool{}, -1
}

// pollAndCommit has member m poll one owned partition and commit it.
func (s *groupSim) pollAndCommit(m *simMember) {
	evs := m.pending
	m.pending = nil
	for p := range m.fetch {
		m.pos[p] = s.committed[p]
		if s.bug == "skip" && m.pos[p] < s.records-1 {
			m.pos[p]++
			if m.skipped == nil {
				m.skipped = map[int32]bool{}
			}
			m.skipped[p] = true
		}
	}
	clear(m.fetch)
	var p int32 = -1
	for q := range s.parts {
		if m.owned[q] && m.pos[q] < s.records && (p < 0 || rapid.Bool().Draw(s.t, "pick")) {
			p = q
		}
	}
	var rs []rec
	if p >= 0 {
		k := int64(rapid.IntRange(0, 3).Draw(s.t, "k"))
		for o := m.pos[p]; o < min(m.pos[p]+k, s.records); o++ {
			rs = append(rs, rec{o, val(p, o)})
		}
	}
	s.b.gpollParts(m.proc, evs, p, rs...)
	if len(rs) == 0 {
		return
	}
	if m.skipped[p] && rs[0].o > s.maybe[p] {
		// The skipped record sits right below what was read, and no
		// commit that may have landed covers it.
		s.planted = true
	}
	delete(m.skipped, p)
	m.pos[p] += int64(len(rs))
	stale := m.gen < -1
	gen := m.gen
	if stale {
		gen = -2 - m.gen
	}
	if !stale {
		s.maybe[p] = max(s.maybe[p], m.pos[p])
	}
	switch {
	case stale && s.bug == "stale":
		// The broker accepts a fenced generation's commit.
		for g, o := range s.okBy[p] {
			if g > gen && o > m.pos[p] {
				s.planted = true
			}
		}
		s.committed[p] = m.pos[p]
		s.b.gcommit(m.proc, m.id, gen, p, m.pos[p], history.TypeOK)
	case stale:
		s.b.gcommit(m.proc, m.id, gen, p, m.pos[p], history.TypeFail)
	case rapid.IntRange(0, 4).Draw(s.t, "commit") == 0:
		if rapid.Bool().Draw(s.t, "landed") {
			s.committed[p] = m.pos[p]
		}
		s.b.gcommit(m.proc, m.id, gen, p, m.pos[p], history.TypeInfo)
	default:
		s.committed[p] = m.pos[p]
		if s.okBy[p] == nil {
			s.okBy[p] = map[int32]int64{}
		}
		s.okBy[p][gen] = max(s.okBy[p][gen], m.pos[p])
		s.b.gcommit(m.proc, m.id, gen, p, m.pos[p], history.TypeOK)
	}
}

// gpollParts is gpoll for any partition (p < 0: no records).
func (b *hb) gpollParts(proc int, evs []history.GroupEvent, p int32, rs ...rec) {
	if p < 0 {
		p = 0
	}
	b.gpoll(proc, evs, p, rs...)
}

func (s *groupSim) run() Result {
	steps := rapid.IntRange(1, 40).Draw(s.t, "steps")
	s.rebalance()
	for range steps {
		if rapid.IntRange(0, 5).Draw(s.t, "step") == 0 {
			s.rebalance()
			continue
		}
		s.pollAndCommit(s.members[rapid.IntRange(0, len(s.members)-1).Draw(s.t, "member")])
	}
	for _, m := range s.members { // deliver what is still pending
		s.pollAndCommit(m)
	}
	return checkGroup(s.t, s.b)
}

// TestGroupProperty: a correct group's histories are valid; planted
// double assignments, accepted stale commits and skipped resumes are found
// whenever they show (and they do show in some runs).
func TestGroupProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		if r := newGroupSim(t, "").run(); r.Valid != Valid {
			t.Fatalf("valid group judged %s: %v %+v", r.Valid, r.Counts, r.Anomalies)
		}
	})
	for bug, typ := range map[string]string{"double": DoubleOwnership, "stale": CommittedOffsetRegression, "skip": CommittedOffsetSkip} {
		planted := 0
		rapid.Check(t, func(rt *rapid.T) {
			s := newGroupSim(rt, bug)
			r := s.run()
			if !s.planted {
				return
			}
			planted++
			if r.Counts[typ] == 0 {
				rt.Fatalf("planted %s missed: %s %v", bug, r.Valid, r.Counts)
			}
		})
		if planted == 0 {
			t.Errorf("bug %s never planted", bug)
		}
		t.Logf("bug %s planted in %d runs", bug, planted)
	}
}
