package checker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/highwater-io/highwater/history"
)

// Group test helpers: partitions are of topic "t"; group "g".

func gtp(p int32) history.TopicPartition { return history.TopicPartition{Topic: "t", Partition: p} }

func gev(kind history.GroupEventKind, member string, gen int32, parts ...int32) history.GroupEvent {
	ev := history.GroupEvent{Kind: kind, MemberID: member, Generation: gen}
	for _, p := range parts {
		ev.Partitions = append(ev.Partitions, gtp(p))
	}
	return ev
}

// gpoll records a group poll by proc with membership events evs, returning
// records rs of partition part.
func (b *hb) gpoll(proc int, evs []history.GroupEvent, part int32, rs ...rec) {
	b.must(b.w.Invoke(proc, history.FPoll, &history.Poll{Group: "g"}))
	p := &history.Poll{Group: "g", Membership: evs}
	if len(rs) > 0 {
		p.Partitions = []history.PartitionRecords{{Topic: "t", Partition: part, Records: recs(rs)}}
	}
	b.must(b.w.Ok(proc, p))
}

// gcommit records proc's commit of offset for partition part by member at
// gen, completed with t.
func (b *hb) gcommit(proc int, member string, gen int32, part int32, offset int64, t history.Type) {
	inv := &history.Commit{Group: "g", Offsets: []history.PartitionOffset{{Topic: "t", Partition: part, Offset: offset}}}
	b.must(b.w.Invoke(proc, history.FCommit, inv))
	out := &history.Commit{Group: "g", MemberID: member, Generation: &gen,
		Offsets: []history.PartitionOffset{{Topic: "t", Partition: part, Offset: offset, Result: t}}}
	switch t {
	case history.TypeOK:
		b.must(b.w.Ok(proc, out))
	case history.TypeFail:
		out.Offsets[0].Error = "ILLEGAL_GENERATION"
		b.must(b.w.Fail(proc, out, nil))
	default:
		b.must(b.w.Info(proc, out, nil))
	}
}

// sends acknowledges values v0..v(n-1) at offsets 0..n-1 of t-0.
func (b *hb) sends(n int) {
	for i := range n {
		b.sendOK(1000, fmt.Sprintf("v%d", i), int64(i))
	}
}

func vrec(o int64) rec { return rec{o, fmt.Sprintf("v%d", o)} }

func checkGroup(t tb, b *hb) Result {
	t.Helper()
	return (&Group{}).Check(context.Background(), b.history())
}

func wantGroup(t *testing.T, r Result, typ string) {
	t.Helper()
	if typ == "" {
		if r.Valid != Valid {
			t.Fatalf("want valid, got %s: %+v", r.Valid, r.Anomalies)
		}
		return
	}
	if r.Valid != Invalid || r.Counts[typ] == 0 {
		t.Fatalf("want %s, got %s %v %+v", typ, r.Valid, r.Counts, r.Anomalies)
	}
	for _, a := range r.Anomalies {
		if a.Type == typ {
			t.Logf("%s: %s", typ, a.Explanation)
		}
	}
}

// handoff: A owns t-0 in generation 1, reads 0..1 and commits 2; the
// cooperative protocol revokes it from A in generation 2 and gives it to B
// in generation 3, which resumes at 2.
func handoff(b *hb, resume int64) {
	b.sends(6)
	b.gpoll(1, []history.GroupEvent{gev(history.GroupAssigned, "A", 1, 0)}, 0, vrec(0), vrec(1))
	b.gcommit(1, "A", 1, 0, 2, history.TypeOK)
	b.gpoll(1, []history.GroupEvent{gev(history.GroupRevoked, "A", 2, 0), gev(history.GroupAssigned, "A", 2)}, 0)
	b.gpoll(2, []history.GroupEvent{gev(history.GroupAssigned, "B", 2)}, 0)
	b.gpoll(2, []history.GroupEvent{gev(history.GroupAssigned, "B", 3, 0)}, 0, vrec(resume), vrec(resume+1))
	b.gcommit(2, "B", 3, 0, resume+2, history.TypeOK)
}

func TestGroupValidHandoff(t *testing.T) {
	b := newHB(t)
	handoff(b, 2)
	r := checkGroup(t, b)
	wantGroup(t, r, "")
	if r.Stats["resumes"] != 2 {
		t.Fatalf("stats %v", r.Stats)
	}
}

func TestGroupDoubleOwnership(t *testing.T) {
	t.Run("same generation", func(t *testing.T) {
		b := newHB(t)
		b.gpoll(1, []history.GroupEvent{gev(history.GroupAssigned, "A", 2, 0)}, 0)
		b.gpoll(2, []history.GroupEvent{gev(history.GroupAssigned, "B", 2, 0)}, 0)
		r := checkGroup(t, b)
		wantGroup(t, r, DoubleOwnership)
		if !strings.Contains(r.Anomalies[0].Explanation, `generation 2: member "A"`) {
			t.Fatal(r.Anomalies[0].Explanation)
		}
	})
	t.Run("kept across a cooperative rebalance", func(t *testing.T) {
		b := newHB(t)
		b.gpoll(1, []history.GroupEvent{gev(history.GroupAssigned, "A", 1, 0)}, 0)
		b.gpoll(1, []history.GroupEvent{gev(history.GroupAssigned, "A", 2)}, 0) // keeps t-0
		b.gpoll(2, []history.GroupEvent{gev(history.GroupAssigned, "B", 2, 0)}, 0)
		wantGroup(t, checkGroup(t, b), DoubleOwnership)
	})
	t.Run("stale member of an older generation", func(t *testing.T) {
		// A never hears of generation 2 (its revocation is late): not an
		// owner of generation 2, so no report.
		b := newHB(t)
		b.gpoll(1, []history.GroupEvent{gev(history.GroupAssigned, "A", 1, 0)}, 0)
		b.gpoll(2, []history.GroupEvent{gev(history.GroupAssigned, "B", 2, 0)}, 0)
		b.gpoll(1, []history.GroupEvent{gev(history.GroupLost, "A", 1, 0)}, 0)
		wantGroup(t, checkGroup(t, b), "")
	})
	t.Run("revoked before the other joins", func(t *testing.T) {
		b := newHB(t)
		b.gpoll(1, []history.GroupEvent{gev(history.GroupAssigned, "A", 1, 0)}, 0)
		b.gpoll(1, []history.GroupEvent{gev(history.GroupRevoked, "A", 2, 0), gev(history.GroupAssigned, "A", 2)}, 0)
		b.gpoll(2, []history.GroupEvent{gev(history.GroupAssigned, "B", 2, 0)}, 0)
		wantGroup(t, checkGroup(t, b), "")
	})
}

func TestGroupStaleCommit(t *testing.T) {
	for _, c := range []struct {
		name string
		typ  history.Type
		want string
	}{
		{"accepted", history.TypeOK, CommittedOffsetRegression},
		{"refused", history.TypeFail, ""},
		{"unknown", history.TypeInfo, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newHB(t)
			b.gcommit(1, "A", 1, 0, 5, history.TypeOK)
			b.gcommit(2, "B", 2, 0, 10, history.TypeOK)
			b.gcommit(1, "A", 1, 0, 7, c.typ)
			wantGroup(t, checkGroup(t, b), c.want)
		})
	}
	t.Run("newer generation lower", func(t *testing.T) {
		// Only a stale generation's commit is judged by this rule.
		b := newHB(t)
		b.gcommit(1, "A", 1, 0, 10, history.TypeOK)
		b.gcommit(2, "B", 2, 0, 7, history.TypeOK)
		wantGroup(t, checkGroup(t, b), "")
	})
	t.Run("concurrent", func(t *testing.T) {
		b := newHB(t)
		b.must(b.w.Invoke(1, history.FCommit, &history.Commit{Group: "g"}))
		b.gcommit(2, "B", 2, 0, 10, history.TypeOK)
		gen := int32(1)
		b.must(b.w.Ok(1, &history.Commit{Group: "g", MemberID: "A", Generation: &gen, Offsets: []history.PartitionOffset{{Topic: "t", Offset: 7}}}))
		wantGroup(t, checkGroup(t, b), "")
	})
}

func TestGroupResumeBelowCommit(t *testing.T) {
	b := newHB(t)
	handoff(b, 1) // A committed 2; B resumes at 1
	wantGroup(t, checkGroup(t, b), CommittedOffsetRegression)

	// An earlier commit of offset 1 that may have landed late explains it.
	b = newHB(t)
	b.gcommit(1, "A", 1, 0, 1, history.TypeInfo)
	handoff(b, 1)
	wantGroup(t, checkGroup(t, b), "")
}

func TestGroupSkip(t *testing.T) {
	b := newHB(t)
	handoff(b, 3) // A committed 2; B resumes at 3: v2 skipped
	r := checkGroup(t, b)
	wantGroup(t, r, CommittedOffsetSkip)
	if a := r.Anomalies[0]; len(a.Offsets) != 1 || a.Offsets[0] != 2 || a.Values[0] != "v2" {
		t.Fatalf("%+v", a)
	}
	// With no commit at all the first owner must start at the log start.
	b = newHB(t)
	b.sends(3)
	b.gpoll(1, []history.GroupEvent{gev(history.GroupAssigned, "A", 1, 0)}, 0, vrec(1))
	wantGroup(t, checkGroup(t, b), CommittedOffsetSkip)
	// A commit that may have taken effect (info) covers the gap.
	b = newHB(t)
	b.sends(3)
	b.gcommit(3, "Z", 1, 0, 1, history.TypeInfo)
	b.gpoll(1, []history.GroupEvent{gev(history.GroupAssigned, "A", 2, 0)}, 0, vrec(1))
	wantGroup(t, checkGroup(t, b), "")
	// Nothing known in the gap: nothing reported.
	b = newHB(t)
	b.gpoll(1, []history.GroupEvent{gev(history.GroupAssigned, "A", 1, 0)}, 0, rec{4, "x"})
	wantGroup(t, checkGroup(t, b), "")
}

func TestGroupOldHistorySkipped(t *testing.T) {
	b := newHB(t)
	b.must(b.w.Invoke(1, history.FPoll, &history.Poll{Group: "g"}))
	b.must(b.w.Ok(1, &history.Poll{Group: "g"}))
	r := checkGroup(t, b)
	if r.Valid != Valid || len(r.Findings) != 1 {
		t.Fatalf("%+v", r)
	}
}

// groupCases are the group histories kept under testdata/ (re-checked by
// TestTestdataHistories through Check, so through the default checkers);
// go test -run TestGroupTestdata -update rewrites them.
var groupCases = []struct {
	name    string
	build   func(*hb)
	verdict string
}{
	{"group-valid", func(b *hb) { handoff(b, 2); b.drain(vrec(0), vrec(1), vrec(2), vrec(3), vrec(4), vrec(5)) }, "valid"},
	{"double-ownership", func(b *hb) {
		b.gpoll(1, []history.GroupEvent{gev(history.GroupAssigned, "A", 1, 0)}, 0)
		b.gpoll(1, []history.GroupEvent{gev(history.GroupAssigned, "A", 2)}, 0)
		b.gpoll(2, []history.GroupEvent{gev(history.GroupAssigned, "B", 2, 0)}, 0)
	}, "invalid"},
	{"committed-offset-regression", func(b *hb) {
		b.gcommit(1, "A", 1, 0, 5, history.TypeOK)
		b.gcommit(2, "B", 2, 0, 10, history.TypeOK)
		b.gcommit(1, "A", 1, 0, 7, history.TypeOK)
	}, "invalid"},
	{"committed-offset-skip", func(b *hb) { handoff(b, 3) }, "invalid"},
}

func TestGroupTestdata(t *testing.T) {
	for _, c := range groupCases {
		probe := newHB(t)
		c.build(probe)
		ctx := context.Background()
		s := Run(ctx, probe.history(), Default("")...)
		if s.Valid.String() != c.verdict {
			t.Fatalf("%s: %s, want %s\n%s", c.name, s.Valid, c.verdict, s.Text())
		}
		if !*update {
			continue
		}
		var expect []string
		for _, r := range s.Results {
			if r.Checker != "group" {
				continue // the others' verdicts on these small histories are not the point
			}
			for typ := range r.Counts {
				expect = append(expect, r.Checker+":"+typ)
			}
		}
		b := newHBHeader(t, history.Header{Scenario: c.name, Seed: 1, Params: map[string]string{
			"verdict": c.verdict, "expect": strings.Join(expect, ","),
		}})
		c.build(b)
		if err := os.WriteFile(filepath.Join("testdata", c.name+".jsonl"), b.bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
