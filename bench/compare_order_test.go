package bench

import (
	"slices"
	"testing"
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
