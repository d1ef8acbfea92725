package bench

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestRoundOrderRotates(t *testing.T) {
	for _, tc := range []struct {
		targets, round int
		want           []int
	}{
		{3, 1, []int{0, 1, 2}},
		{3, 2, []int{1, 2, 0}},
		{3, 3, []int{2, 0, 1}},
		{3, 4, []int{0, 1, 2}},
		{2, 2, []int{1, 0}},
		{1, 5, []int{0}},
		{0, 1, []int{}},
		{3, 0, []int{2, 0, 1}}, // out of range rounds still give a permutation
	} {
		if got := RoundOrder(tc.targets, tc.round); !slices.Equal(got, tc.want) {
			t.Errorf("RoundOrder(%d, %d) = %v, want %v", tc.targets, tc.round, got, tc.want)
		}
	}
	// Over n rounds every target takes every position once.
	const n = 4
	seen := map[[2]int]bool{}
	for round := 1; round <= n; round++ {
		for pos, target := range RoundOrder(n, round) {
			seen[[2]int{target, pos}] = true
		}
	}
	if len(seen) != n*n {
		t.Errorf("%d of %d target/position pairs covered", len(seen), n*n)
	}
}

func TestParseLoadAvg1(t *testing.T) {
	for _, tc := range []struct {
		text string
		want float64
	}{
		{"12.51 7.12 3.81 3/412 22413\n", 12.51},
		{"0.00 0.01 0.05 1/80 1", 0},
		{"", -1},
		{"abc 1 2", -1},
		{"-3 1 2", -1},
	} {
		if got := parseLoadAvg1(tc.text); got != tc.want {
			t.Errorf("parseLoadAvg1(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

// TestRecorderTimeline: the per-second maxima follow acknowledgement time,
// and WorstSecond names the stall.
func TestRecorderTimeline(t *testing.T) {
	r := NewRecorder(t0, 0)
	r.Ack(t0, t0.Add(100*time.Millisecond), 1, nil)                              // second 0: 100 ms
	r.Ack(t0.Add(2*time.Second), t0.Add(2500*time.Millisecond), 1, nil)          // second 2: 500 ms
	r.Ack(t0.Add(2900*time.Millisecond), t0.Add(2950*time.Millisecond), 1, nil)  // second 2: 50 ms
	r.Ack(t0.Add(3*time.Second), t0.Add(3*time.Second+time.Millisecond), 1, nil) // second 3: 1 ms
	r.Ack(t0, t0.Add(-time.Second), 1, nil)                                      // before the start: not in the timeline
	r.Ack(t0, t0.Add(time.Second), 1, errors.New("boom"))                        // failures carry no latency
	res := r.Result()
	want := []float64{100, 0, 500, 1}
	if !slices.Equal(res.MaxLatencyMsPerSecond, want) {
		t.Errorf("timeline = %v, want %v", res.MaxLatencyMsPerSecond, want)
	}
	if sec, ms := res.WorstSecond(); sec != 2 || ms != 500 {
		t.Errorf("WorstSecond = %d, %v; want 2, 500", sec, ms)
	}
	if sec, _ := (ProduceResult{}).WorstSecond(); sec != -1 {
		t.Errorf("empty WorstSecond = %d, want -1", sec)
	}
}
