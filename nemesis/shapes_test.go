package nemesis

import (
	"fmt"
	"slices"
	"testing"
)

func links(pairs ...[2]int32) []Link {
	var out []Link
	for _, p := range pairs {
		out = append(out, link(p[0], p[1]))
	}
	return normalize(out)
}

func TestShapesTable(t *testing.T) {
	three := []int32{0, 1, 2}
	five := []int32{0, 1, 2, 3, 4}
	tests := []struct {
		name string
		got  []Link
		want []Link
	}{
		{"halves/3", IsolateCuts([]int32{0}, three), links([2]int32{0, 1}, [2]int32{0, 2})},
		{"halves/5", IsolateCuts([]int32{3, 1}, five), links(
			[2]int32{1, 0}, [2]int32{1, 2}, [2]int32{1, 4}, [2]int32{3, 0}, [2]int32{3, 2}, [2]int32{3, 4})},
		{"ring/3", RingCuts(three), links([2]int32{0, 2})},
		{"ring/3 shuffled", RingCuts([]int32{2, 0, 1}), links([2]int32{2, 1})},
		{"ring/5", RingCuts(five), links(
			[2]int32{0, 2}, [2]int32{0, 3}, [2]int32{1, 3}, [2]int32{1, 4}, [2]int32{2, 4})},
		{"ring/5 shuffled", RingCuts([]int32{4, 2, 0, 3, 1}), links(
			[2]int32{4, 0}, [2]int32{4, 3}, [2]int32{2, 3}, [2]int32{2, 1}, [2]int32{0, 1})},
		{"bridge/3", BridgeCuts(three), links([2]int32{1, 2})},
		{"bridge/5", BridgeCuts(five), links([2]int32{1, 3}, [2]int32{1, 4}, [2]int32{2, 3}, [2]int32{2, 4})},
		{"bridge/5 bridge 3", BridgeCuts([]int32{3, 0, 1, 2, 4}), links(
			[2]int32{0, 2}, [2]int32{0, 4}, [2]int32{1, 2}, [2]int32{1, 4})},
		{"ring/2", RingCuts([]int32{0, 1}), nil},
		{"bridge/1", BridgeCuts([]int32{0}), nil},
		{"isolate nothing", IsolateCuts(nil, five), nil},
		{"isolate everything", IsolateCuts(five, five), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !slices.Equal(tt.got, tt.want) {
				t.Errorf("cuts %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// views returns, per node, the set of nodes it can reach directly
// (itself included) once cuts are applied.
func views(order []int32, cuts []Link) map[int32][]int32 {
	cut := map[Link]bool{}
	for _, l := range cuts {
		cut[l] = true
	}
	out := map[int32][]int32{}
	for _, a := range order {
		for _, b := range order {
			if a == b || !cut[link(a, b)] {
				out[a] = append(out[a], b)
			}
		}
		slices.Sort(out[a])
	}
	return out
}

// TestRingProperties: in a majorities ring every node sees a majority and
// no two nodes see the same set, for every cluster size from 3 to 11.
func TestRingProperties(t *testing.T) {
	for n := 3; n <= 11; n++ {
		order := make([]int32, n)
		for i := range order {
			order[i] = int32((i * 7) % n) // some permutation
		}
		if n%7 == 0 {
			for i := range order {
				order[i] = int32(i)
			}
		}
		v := views(order, RingCuts(order))
		seen := map[string]int32{}
		for id, sees := range v {
			if len(sees) <= n/2 {
				t.Errorf("n=%d: node %d sees %v, not a majority", n, id, sees)
			}
			// With symmetric cuts three nodes form a path whose middle node
			// sees everyone; from four nodes on nobody does.
			if len(sees) == n && n > 3 {
				t.Errorf("n=%d: node %d sees everyone", n, id)
			}
			key := fmt.Sprint(sees)
			if other, dup := seen[key]; dup {
				t.Errorf("n=%d: nodes %d and %d both see %v", n, other, id, sees)
			}
			seen[key] = id
		}
	}
}

// TestBridgeProperties: the bridge sees everyone, the halves do not see
// each other, and for odd sizes each half plus the bridge is a majority.
func TestBridgeProperties(t *testing.T) {
	for n := 3; n <= 11; n++ {
		order := make([]int32, n)
		for i := range order {
			order[i] = int32(n - 1 - i)
		}
		b, x, y := BridgeSides(order)
		v := views(order, BridgeCuts(order))
		if len(v[b]) != n {
			t.Errorf("n=%d: bridge %d sees %v", n, b, v[b])
		}
		for _, id := range x {
			if len(v[id]) != len(x)+1 {
				t.Errorf("n=%d: node %d sees %v, want its half and the bridge", n, id, v[id])
			}
			if n%2 == 1 && len(v[id]) <= n/2 {
				t.Errorf("n=%d: node %d sees %v, not a majority", n, id, v[id])
			}
		}
		for _, id := range y {
			if len(v[id]) != len(y)+1 {
				t.Errorf("n=%d: node %d sees %v, want its half and the bridge", n, id, v[id])
			}
		}
	}
}
