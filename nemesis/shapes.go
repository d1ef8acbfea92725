package nemesis

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Link is an undirected link between two nodes, A < B.
type Link struct{ A, B int32 }

func link(a, b int32) Link {
	if a > b {
		a, b = b, a
	}
	return Link{a, b}
}

func (l Link) String() string { return fmt.Sprintf("n%d-n%d", l.A, l.B) }

// IsolateCuts returns the links to cut so that the nodes of side see each
// other but nothing of the rest of all: isolating one node, a minority, or
// a rack are all this shape.
func IsolateCuts(side, all []int32) []Link {
	in := map[int32]bool{}
	for _, id := range side {
		in[id] = true
	}
	var cuts []Link
	for _, a := range side {
		for _, b := range all {
			if !in[b] {
				cuts = append(cuts, link(a, b))
			}
		}
	}
	return normalize(cuts)
}

// RingCuts returns the links to cut for a majorities ring over order (a
// ring in that order): every node keeps the nodes within d ring steps on
// either side, the smallest d for which that is a majority, so each node
// sees a majority and no two nodes see the same one. Three nodes are the
// one size where that keeps every link; there the ring opens into a path
// (order[0] and order[2] cut), which has the same two properties. Fewer
// than three nodes cannot be split that way: nothing is cut.
func RingCuts(order []int32) []Link {
	n := len(order)
	if n < 3 {
		return nil
	}
	if n == 3 {
		return []Link{link(order[0], order[2])}
	}
	others := n / 2 // a majority is n/2+1 nodes: itself and n/2 others
	d := (others + 1) / 2
	var cuts []Link
	for i := range n {
		for j := i + 1; j < n; j++ {
			dist := min(j-i, n-(j-i))
			if dist > d {
				cuts = append(cuts, link(order[i], order[j]))
			}
		}
	}
	return normalize(cuts)
}

// BridgeSides splits order for the bridge shape: order[0] is the bridge,
// the rest splits in two halves (the first one smaller by one when the
// rest is odd).
func BridgeSides(order []int32) (bridge int32, a, b []int32) {
	if len(order) == 0 {
		return -1, nil, nil
	}
	rest := order[1:]
	half := len(rest) / 2
	return order[0], rest[:half], rest[half:]
}

// BridgeCuts returns the links to cut for a bridge over order: two halves
// that cannot see each other, joined by one bridge node that sees both;
// each half plus the bridge is a majority when the halves are equal.
func BridgeCuts(order []int32) []Link {
	_, a, b := BridgeSides(order)
	var cuts []Link
	for _, x := range a {
		for _, y := range b {
			cuts = append(cuts, link(x, y))
		}
	}
	return normalize(cuts)
}

// normalize sorts and deduplicates links (and drops self-links), so the
// order of cuts is a function of the shape alone.
func normalize(ls []Link) []Link {
	ls = slices.DeleteFunc(ls, func(l Link) bool { return l.A == l.B })
	slices.SortFunc(ls, func(x, y Link) int {
		if x.A != y.A {
			return cmp.Compare(x.A, y.A)
		}
		return cmp.Compare(x.B, y.B)
	})
	return slices.Compact(ls)
}

// completeOrder returns first followed by the ids of all not in first, in
// all's order, so a partial target still yields a whole ring or bridge.
func completeOrder(first, all []int32) []int32 {
	in := map[int32]bool{}
	var out []int32
	for _, id := range first {
		if !in[id] && slices.Contains(all, id) {
			in[id] = true
			out = append(out, id)
		}
	}
	for _, id := range all {
		if !in[id] {
			out = append(out, id)
		}
	}
	return out
}

// nodeList formats ids as "n1 n2 n3".
func nodeList(ids []int32) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("n%d", id)
	}
	return strings.Join(parts, " ")
}
