package clustertest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	reads := []Read{{0, "p-0", 3}, {1, "p-1", 3}, {2, "p-2", 3}}
	acks := []Ack{{Seq: 0, Offset: 0}, {Seq: 2, Offset: 2}}
	for _, tc := range []struct {
		name  string
		acks  []Ack
		reads []Read
		seen  []Read
		want  string // substring of the error; "" = valid
	}{
		{name: "valid", acks: acks, reads: reads, seen: reads[:2]},
		{name: "unacknowledged records may be present", acks: acks[:1], reads: reads},
		{name: "reported HW below a record is not an anomaly", acks: acks, reads: []Read{{0, "p-0", 0}, {1, "p-1", 1}, {2, "p-2", 2}}},
		{name: "lost", acks: append(acks, Ack{Seq: 3, Offset: 3}), reads: reads, want: "seq 3 at offset 3: lost"},
		{name: "replaced", acks: []Ack{{Seq: 1, Offset: 2}}, reads: reads, want: "holds \"p-2\" instead"},
		{name: "reordered", reads: []Read{{0, "p-1", 2}, {1, "p-0", 2}}, want: "reordered or duplicated"},
		{name: "duplicated", reads: []Read{{0, "p-0", 2}, {1, "p-0", 2}}, want: "reordered or duplicated"},
		{name: "seen then truncated", reads: reads[:2], seen: []Read{{2, "p-2", 3}}, want: "a consumer read \"p-2\" at offset 2"},
		{name: "seen other value", reads: reads, seen: []Read{{1, "p-9", 3}}, want: "final log holds \"p-1\""},
		{name: "foreign values ignored for order", reads: []Read{{0, "x", 1}, {1, "p-0", 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check("p", tc.acks, tc.reads, tc.seen)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Check = %v, want valid", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Check = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestAboveReportedHW(t *testing.T) {
	if n := AboveReportedHW([]Read{{0, "a", 1}, {1, "b", 1}, {2, "c", 1}}); n != 2 {
		t.Fatalf("AboveReportedHW = %d, want 2", n)
	}
}

func TestFailoverFigures(t *testing.T) {
	t0 := time.Unix(1000, 0)
	kill := func(gap time.Duration) KillResult {
		return KillResult{LastAckBefore: t0, FirstAckAfter: t0.Add(gap)}
	}
	for _, tc := range []struct {
		gaps        []time.Duration
		median, max time.Duration
	}{
		{nil, 0, 0},
		{[]time.Duration{3 * time.Second}, 3 * time.Second, 3 * time.Second},
		{[]time.Duration{9 * time.Second, 1 * time.Second, 5 * time.Second}, 5 * time.Second, 9 * time.Second},
		{[]time.Duration{4 * time.Second, 2 * time.Second, 8 * time.Second, 6 * time.Second}, 5 * time.Second, 8 * time.Second},
	} {
		var r FailoverResult
		for _, g := range tc.gaps {
			r.Kills = append(r.Kills, kill(g))
		}
		if r.Median() != tc.median || r.Max() != tc.max {
			t.Errorf("gaps %v: median %v max %v, want %v %v", tc.gaps, r.Median(), r.Max(), tc.median, tc.max)
		}
	}
}

func TestParseImpls(t *testing.T) {
	for in, want := range map[string]int{"reference": 1, "kafka": 1, "both": 2} {
		got, err := ParseImpls(in)
		if err != nil || len(got) != want {
			t.Errorf("ParseImpls(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseImpls("redpanda"); !errors.Is(err, ErrBadImpl) {
		t.Errorf("ParseImpls(redpanda) = %v, want ErrBadImpl", err)
	}
}

func TestPropertiesSameForBoth(t *testing.T) {
	p := Config{SessionTimeout: 6 * time.Second, Set: map[string]string{"x": "y"}}.Properties()
	want := map[string]string{
		"broker.session.timeout.ms": "6000", "broker.heartbeat.interval.ms": "1500",
		"replica.selector.class": RackAwareSelector, "x": "y",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}
	if d := (Config{}).Properties()["broker.session.timeout.ms"]; d != "9000" {
		t.Errorf("default session timeout %s, want Kafka's 9000", d)
	}
}

func TestLongestPause(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) Ack { return Ack{At: t0.Add(time.Duration(ms) * time.Millisecond)} }
	// Acks every 2 ms, two stragglers just after a kill at 10 ms, then a
	// 5 s failover: the pause is between the stragglers and recovery.
	acks := []Ack{at(0), at(2), at(4), at(6), at(8), at(11), at(12), at(5012), at(5014)}
	start, end := longestPause(acks, t0.Add(3*time.Millisecond))
	if !start.Equal(t0.Add(12*time.Millisecond)) || !end.Equal(t0.Add(5012*time.Millisecond)) {
		t.Fatalf("longestPause = %v..%v", start.Sub(t0), end.Sub(t0))
	}
	if s, e := longestPause(nil, t0); !s.IsZero() || !e.IsZero() {
		t.Fatalf("no acks: %v %v", s, e)
	}
}
