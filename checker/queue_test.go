package checker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/highwater-io/highwater/history"
)

// validHistory: two producers, a consumer, fetches and a drain, with an
// info send that was read and one that never was.
func validHistory(t testing.TB) *hb {
	b := newHB(t)
	buildValid(b)
	return b
}

func buildValid(b *hb) {
	b.assign(10, true)
	b.invokeSend(1, "a")
	b.invokeSend(2, "b")
	b.ackSend(1, []string{"a"}, 0)
	b.fetch(20, 0, 1, rec{0, "a"})
	b.ackSend(2, []string{"b"}, 1)
	b.poll(10, rec{0, "a"}, rec{1, "b"})
	b.sendInfo(1, "c") // landed at 2, read later
	b.sendOK(2, "d", 3)
	b.listOffsets(20, 4)
	b.sendInfo(2, "e") // never happened
	b.fetch(20, 4, 4)
	b.poll(10, rec{2, "c"}, rec{3, "d"})
	b.sendFail(1, "f")
	b.drain(rec{0, "a"}, rec{1, "b"}, rec{2, "c"}, rec{3, "d"})
}

func TestValidHistory(t *testing.T) {
	s := runAll(t, validHistory(t).history(), t.TempDir())
	if s.Valid != Valid {
		t.Fatalf("valid history judged %s:\n%s", s.Valid, s.Text())
	}
}

// anomalyCase is a history that must be flagged with Type, whose first
// explanation of that type mentions every string in Mentions.
type anomalyCase struct {
	name     string
	build    func(b *hb)
	checker  string
	typ      string
	mentions []string
}

var anomalyCases = []anomalyCase{
	{"lost-write", func(b *hb) {
		b.sendOK(1, "a", 0)
		b.sendOK(1, "b", 1)
		b.sendOK(1, "c", 2)
		b.poll(10, rec{0, "a"})
		b.poll(11, rec{2, "c"})
		b.drain(rec{0, "a"}, rec{2, "c"})
	}, "queue", LostWrite, []string{`"b"`, "offset 1", "read offset 2"}},
	{"unseen", func(b *hb) {
		b.sendOK(1, "a", 0)
		b.sendOK(1, "b", 1)
		b.drain(rec{0, "a"})
	}, "queue", Unseen, []string{`"b"`, "offset 1", "final drain"}},
	{"inconsistent-offsets", func(b *hb) {
		b.sendOK(1, "a", 0)
		b.sendInfo(2, "x")
		b.poll(10, rec{0, "x"})
		b.drain(rec{0, "x"}, rec{1, "a"})
	}, "queue", InconsistentOffsets, []string{"offset 0", `"a"`, `"x"`}},
	{"duplicate", func(b *hb) {
		b.sendOK(1, "a", 0)
		b.sendOK(1, "b", 1)
		b.drain(rec{0, "a"}, rec{1, "b"}, rec{2, "a"})
	}, "queue", Duplicate, []string{`"a"`, "[0 2]"}},
	{"poll-skip", func(b *hb) {
		b.sendOK(1, "a", 0)
		b.sendOK(1, "b", 1)
		b.sendOK(1, "c", 2)
		b.poll(10, rec{0, "a"})
		b.poll(10, rec{2, "c"})
		b.drain(rec{0, "a"}, rec{1, "b"}, rec{2, "c"})
	}, "queue", PollSkip, []string{`"a"`, `"c"`, `["b"]`, "[1]"}},
	{"nonmonotonic-poll", func(b *hb) {
		b.sendOK(1, "a", 0)
		b.sendOK(1, "b", 1)
		b.poll(10, rec{0, "a"}, rec{1, "b"})
		b.poll(10, rec{1, "b"})
		b.drain(rec{0, "a"}, rec{1, "b"})
	}, "queue", NonmonotonicPoll, []string{`"b"`, "offset 1", "without advancing"}},
	{"int-poll-skip", func(b *hb) {
		b.sendOK(1, "a", 0)
		b.sendOK(1, "b", 1)
		b.sendOK(1, "c", 2)
		b.poll(10, rec{0, "a"}, rec{2, "c"})
		b.drain(rec{0, "a"}, rec{1, "b"}, rec{2, "c"})
	}, "queue", IntPollSkip, []string{"within poll", `["b"]`}},
	{"int-nonmonotonic-poll", func(b *hb) {
		b.sendOK(1, "a", 0)
		b.sendOK(1, "b", 1)
		b.poll(10, rec{1, "b"}, rec{0, "a"})
		b.drain(rec{0, "a"}, rec{1, "b"})
	}, "queue", IntNonmonotonicPoll, []string{"within poll", `"b" (offset 1) then "a" (offset 0)`}},
	{"nonmonotonic-send", func(b *hb) {
		b.sendOK(1, "a", 1)
		b.sendOK(1, "b", 0)
		b.drain(rec{0, "b"}, rec{1, "a"})
	}, "queue", NonmonotonicSend, []string{`"a" then "b"`, "offsets 1 and 0"}},
	{"int-nonmonotonic-send", func(b *hb) {
		b.invokeSend(1, "a", "b")
		b.ackSend(1, []string{"a", "b"}, 1, 0)
		b.drain(rec{0, "b"}, rec{1, "a"})
	}, "queue", IntNonmonotonicSend, []string{"within send", "offsets 1 and 0"}},
	{"unexpected", func(b *hb) {
		b.sendOK(1, "a", 0)
		b.drain(rec{0, "a"}, rec{1, "zzz"})
	}, "queue", Unexpected, []string{`"zzz"`, "offset 1", "no send"}},
	{"G1a", func(b *hb) {
		b.sendFail(1, "x")
		b.drain(rec{0, "x"})
	}, "queue", AbortedRead, []string{`"x"`, "failed"}},
	{"stale-read", func(b *hb) {
		// Acknowledged at offset 0, then a fetch that started after the
		// ack sees nothing there.
		b.sendOK(1, "a", 0)
		b.fetch(20, 0, 0)
		b.drain(rec{0, "a"})
	}, "linearizability", NotLinearizable, []string{"t-0", "fetch(0) → [] hw=0"}},
	{"read-before-commit", func(b *hb) {
		// A fetch returns a value whose send had not been invoked yet.
		b.fetch(20, 0, 1, rec{0, "a"})
		b.sendOK(1, "a", 0)
		b.drain(rec{0, "a"})
	}, "linearizability", NotLinearizable, []string{"t-0"}},
	{"hw-regression", func(b *hb) {
		b.sendOK(1, "a", 0)
		b.sendOK(1, "b", 1)
		b.listOffsets(20, 2)
		b.listOffsets(20, 1)
		b.drain(rec{0, "a"}, rec{1, "b"})
	}, "linearizability", NotLinearizable, []string{"list-offsets → hw=1"}},
	{"wrong-value", func(b *hb) {
		b.sendOK(1, "a", 0)
		b.sendOK(1, "b", 1)
		b.fetch(20, 1, 2, rec{1, "a"})
		b.drain(rec{0, "a"}, rec{1, "b"})
	}, "linearizability", NotLinearizable, []string{`fetch(1) → [1:"a"]`}},
}

func TestAnomalies(t *testing.T) {
	for _, c := range anomalyCases {
		t.Run(c.name, func(t *testing.T) {
			b := newHB(t)
			c.build(b)
			dir := t.TempDir()
			s := runAll(t, b.history(), dir)
			a := checkFlagged(t, s, c)
			if c.checker == "linearizability" {
				st, err := os.Stat(filepath.Join(dir, a.Artifact))
				if a.Artifact == "" || err != nil || st.Size() < 1000 {
					t.Fatalf("visualization %q: %v", a.Artifact, err)
				}
			}
		})
	}
}

func checkFlagged(t *testing.T, s Summary, c anomalyCase) Anomaly {
	t.Helper()
	if s.Valid != Invalid {
		t.Fatalf("verdict %s, want invalid:\n%s", s.Valid, s.Text())
	}
	for _, r := range s.Results {
		if r.Checker != c.checker {
			continue
		}
		for _, a := range r.Anomalies {
			if a.Type != c.typ {
				continue
			}
			for _, m := range c.mentions {
				if !strings.Contains(a.Explanation, m) {
					t.Errorf("explanation %q does not mention %q", a.Explanation, m)
				}
			}
			if len(a.Ops) == 0 {
				t.Errorf("anomaly names no operation: %+v", a)
			}
			return a
		}
	}
	t.Fatalf("no %s anomaly from %s:\n%s", c.typ, c.checker, s.Text())
	return Anomaly{}
}

func TestUnknownWithoutDrain(t *testing.T) {
	b := newHB(t)
	b.sendOK(1, "a", 0)
	b.poll(10, rec{0, "a"})
	r := (&Queue{}).Check(context.Background(), b.history())
	if r.Valid != Unknown || !strings.Contains(r.Reason, "drain") {
		t.Fatalf("got %s (%s)", r.Valid, r.Reason)
	}
}

func TestUnknownOnDuplicateSendValue(t *testing.T) {
	b := newHB(t)
	b.sendOK(1, "a", 0)
	b.sendOK(2, "a", 1)
	b.drain(rec{0, "a"}, rec{1, "a"})
	r := (&Queue{}).Check(context.Background(), b.history())
	// A value sent twice breaks the workload's precondition; the
	// duplicate it causes is still reported, and nothing says valid.
	if r.Valid == Valid {
		t.Fatalf("got %s", r.Valid)
	}
	b2 := newHB(t)
	b2.sendOK(1, "a", 0)
	b2.sendInfo(2, "a")
	b2.drain(rec{0, "a"})
	r = (&Queue{}).Check(context.Background(), b2.history())
	if r.Valid != Unknown || !strings.Contains(r.Reason, "sent twice") {
		t.Fatalf("got %s (%s)", r.Valid, r.Reason)
	}
}

func TestCancelledIsUnknown(t *testing.T) {
	h := validHistory(t).history()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range Default(t.TempDir()) {
		if r := c.Check(ctx, h); r.Valid != Unknown {
			t.Errorf("%s on a cancelled context: %s", c.Name(), r.Valid)
		}
	}
}

func TestRebalanceStartsNewSession(t *testing.T) {
	b := newHB(t)
	b.sendOK(1, "a", 0)
	b.sendOK(1, "b", 1)
	b.poll(10, rec{0, "a"}, rec{1, "b"})
	// After a rebalance the group resumes from its committed offset: going
	// back is allowed.
	b.pollRebalanced(10, []history.TopicPartition{{Topic: "t"}}, rec{0, "a"}, rec{1, "b"})
	b.assign(10, true)
	b.poll(10, rec{0, "a"})
	b.drain(rec{0, "a"}, rec{1, "b"})
	if s := runAll(t, b.history(), ""); s.Valid != Valid {
		t.Fatalf("%s", s.Text())
	}
}
