package checker

import (
	"context"
	"testing"

	"github.com/highwater-io/highwater/history"
)

// With acks=1 an acknowledgement is the leader's append, not a commit: a
// high watermark below an acknowledged offset is Kafka's contract, not a
// linearizability violation. The same history with acks=all is invalid;
// a read that sees two values at one offset is invalid either way.
func TestLeaderAcksAreNotCommits(t *testing.T) {
	build := func(acks string, conflicting bool) *history.History {
		b := newHBHeader(t, history.Header{Scenario: "test", Seed: 1, Params: map[string]string{"acks": acks}})
		b.sendOK(1, "a", 0)
		b.sendOK(1, "b", 1)
		b.listOffsets(20, 1) // "b" acknowledged at 1, not yet replicated
		if conflicting {
			b.fetch(20, 1, 2, rec{1, "b"})
			b.fetch(20, 1, 2, rec{1, "c"})
		}
		b.drain(rec{0, "a"}, rec{1, "b"})
		return b.history()
	}
	for _, tc := range []struct {
		acks        string
		conflicting bool
		want        Validity
	}{
		{"1", false, Valid},
		{"all", false, Invalid},
		{"1", true, Invalid},
	} {
		lin := &Linearizability{OutDir: t.TempDir()}
		got := lin.Check(context.Background(), build(tc.acks, tc.conflicting)).Valid
		if got != tc.want {
			t.Errorf("acks=%s conflicting=%v: %v, want %v", tc.acks, tc.conflicting, got, tc.want)
		}
	}
}
