package checker

import (
	"context"
	"slices"

	"github.com/highwater-io/highwater/history"
)

// maxCycleTries bounds how many process or realtime edges of one strongly
// connected component the cycle search starts from (each a breadth-first
// search of the component); the shortest cycle found is reported.
const maxCycleTries = 8

// addOrder adds each op's begin and end nodes and the process and realtime
// edges between ops. Only ops with events (an append or a read in the
// graph) take part: the realtime order restricted to them is still
// transitively complete, and ops without events cannot be on a cycle.
//
// An op ends (has an end node) only when it completed ok or fail: an info
// op may still take effect after its completion, so nothing is ordered
// after it. Process edges join an op to the next op of its process from
// the last one that ended. Realtime edges are the transitive reduction of
// "completed before the other was invoked" (Elle's construction): walking
// invocations in order, each op gets an edge from every op in the frontier
// — the ended ops that no op ended since was invoked after (those reach
// it through that op) — so a history with c concurrent ops gets about c
// edges per op instead of n.
func (b *eventBuilder) addOrder(ctx context.Context) error {
	h := b.g.m.h
	var ops []int // ops with events, in invocation order (h.Ops is)
	for op := range h.Ops {
		if b.commit[op] >= 0 || b.read[op] >= 0 {
			ops = append(ops, op)
		}
	}
	begin, end := noNodes(len(h.Ops)), noNodes(len(h.Ops))
	for _, op := range ops {
		bg := b.node(eventNode{kind: nodeBegin, op: op})
		begin[op] = int32(bg)
		if !ended(&h.Ops[op]) {
			continue
		}
		en := b.node(eventNode{kind: nodeEnd, op: op})
		end[op] = int32(en)
		b.edge(bg, en, edgeOrder)
		if rd := b.read[op]; rd >= 0 {
			b.edge(int(rd), en, edgeOrder)
		}
		if c := b.commit[op]; c >= 0 {
			b.edge(int(c), en, edgeOrder)
		}
	}
	// The invocation orders the op's appends, not its reads: the eos
	// workload polls before it records the transaction's invocation. A
	// read leads only to its op's appends and end, which the begin orders
	// anyway, so no cycle is lost.
	for v, nd := range b.g.nodes {
		if nd.kind == nodeAppend && begin[nd.op] >= 0 {
			b.edge(int(begin[nd.op]), v, edgeOrder)
		}
	}
	return opOrder(ctx, h, ops, func(from, to int, kind int8) {
		b.edge(int(end[from]), int(begin[to]), kind)
	})
}

// ended says whether op completed ok or fail: everything it did came
// before its completion.
func ended(op *history.Op) bool {
	t := op.Type()
	return op.Complete.Index >= 0 && (t == history.TypeOK || t == history.TypeFail)
}

// opOrder emits the process and realtime edges among ops (indices into
// h.Ops in invocation order): from the last op of each process that ended
// to its next op, and the transitive reduction of realtime order — walking
// invocations in order, each op gets an edge from every op in the
// frontier: the ended ops that no op ended since was invoked after.
func opOrder(ctx context.Context, h *history.History, ops []int, emit func(from, to int, kind int8)) error {
	lastEnded := map[int]int{} // process → its last op that ended
	var done []int             // ops that ended
	for _, op := range ops {
		p := h.Ops[op].Process
		if prev, ok := lastEnded[p]; ok {
			emit(prev, op, edgeProcess)
		}
		if ended(&h.Ops[op]) {
			lastEnded[p] = op
			done = append(done, op)
		}
	}
	slices.SortFunc(done, func(x, y int) int { return int(h.Ops[x].Complete.Index - h.Ops[y].Complete.Index) })
	// frontier holds ended ops in completion order; frontier[head:] is
	// live. An op's completion retires every live op that completed
	// before it was invoked (a prefix): they reach it by an edge.
	var frontier []int
	head, next := 0, 0
	for i, op := range ops {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		inv := h.Ops[op].Invoke.Index
		for ; next < len(done) && h.Ops[done[next]].Complete.Index < inv; next++ {
			c := done[next]
			for head < len(frontier) && h.Ops[frontier[head]].Complete.Index < h.Ops[c].Invoke.Index {
				head++
			}
			frontier = append(frontier, c)
		}
		for _, f := range frontier[head:] {
			emit(f, op, edgeRealtime)
		}
	}
	return nil
}

// orderCycles reports the cycles that need process or realtime edges: over
// the base edges and process edges, a shortest cycle through a process
// edge in each strongly connected component (G0-process, G1c-process);
// then over every edge, one through a realtime edge (G0-realtime,
// G1c-realtime). It returns, per pass, the ops of every component with
// such a cycle: their cycles are anomalies already.
func (g *eventGraph) orderCycles(ctx context.Context, col *collector) ([2]map[int]bool, error) {
	defer func() { g.mask = maskBase }()
	var covered [2]map[int]bool
	for i, pass := range orderPasses {
		g.mask = pass.mask
		sccs, err := g.sccs(ctx)
		if err != nil {
			return covered, err
		}
		covered[i] = map[int]bool{}
		for _, scc := range sccs {
			if cyc := g.cycleVia(scc, pass.via); cyc != nil {
				col.add(g.explain(cyc))
				for _, v := range scc {
					covered[i][g.nodes[v].op] = true
				}
			}
		}
	}
	return covered, nil
}

// orderPasses are the two searches for cycles through process and
// realtime edges: the edges each follows and the kind its cycles must use.
var orderPasses = [2]struct {
	mask edgeMask
	via  int8
}{{maskProcess, edgeProcess}, {maskRealtime, edgeRealtime}}

// cycleVia returns a shortest cycle (edges) inside scc through an edge of
// the given kind, trying up to maxCycleTries such edges; nil when none of
// them is on a cycle.
func (g *eventGraph) cycleVia(scc []int, kind int8) []int {
	in := nodeSet(scc)
	var best []int
	tries := 0
	for _, v := range scc {
		for e := g.start[v]; e < g.start[v+1]; e++ {
			if g.kind[e] != kind || !in[g.to[e]] {
				continue
			}
			if p := g.path(in, g.to[e], v); p != nil && (best == nil || len(p)+1 < len(best)) {
				best = append([]int{e}, p...)
			}
			if tries++; tries == maxCycleTries {
				return best
			}
		}
	}
	return best
}

// cycleStep is one explained edge of a cycle.
type cycleStep struct {
	from, to int
	kind     int8
	read     int
}

// collapse turns a cycle's edges into the steps an explanation names:
// edges inside one op are dropped, and a run of process or realtime edges
// through ops that add nothing else (the transitive reduction's
// intermediate ops) becomes one realtime edge — the first op completed
// before the last was invoked — or one process edge when all are.
func (g *eventGraph) collapse(cyc []int) []cycleStep {
	// Start at a dependency edge so no run wraps around the end.
	first := slices.IndexFunc(cyc, func(e int) bool { return g.kind[e] == edgeWW || g.kind[e] == edgeWR })
	if first > 0 {
		cyc = append(slices.Clone(cyc[first:]), cyc[:first]...)
	}
	var out []cycleStep
	ordered := func(k int8) bool { return k == edgeProcess || k == edgeRealtime }
	for _, e := range cyc {
		s := cycleStep{from: g.from[e], to: g.to[e], kind: g.kind[e], read: int(g.read[e])}
		if s.kind == edgeOrder {
			continue
		}
		if n := len(out); n > 0 && ordered(s.kind) && ordered(out[n-1].kind) {
			last := &out[n-1]
			last.to = s.to
			if s.kind == edgeRealtime {
				last.kind = edgeRealtime
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// shortcut shortens a cycle found through a process or realtime edge
// (kind): whenever an op of the cycle ended before a later op of it was
// invoked (on the same process, for edgeProcess), the steps between them
// are replaced by one such edge. That is sound — everything an op does
// precedes its end, and its begin precedes everything the next does — and
// keeps explanations to the ops that matter instead of the chains the
// transitive reduction and offset order lead the search through. The
// farthest jump is taken first, until none is left.
func (g *eventGraph) shortcut(steps []cycleStep, kind int8) []cycleStep {
	h := g.m.h
	before := func(a, b int) bool {
		x, y := &h.Ops[a], &h.Ops[b]
		if a == b || !ended(x) {
			return false
		}
		return x.Complete.Index < y.Invoke.Index && (kind != edgeProcess || x.Process == y.Process)
	}
	for {
		k := len(steps)
		i, span := 0, 0
	search:
		for ; i < k; i++ {
			a := g.nodes[steps[i].from].op
			for span = k - 1; span >= 2; span-- {
				if before(a, g.nodes[steps[(i+span)%k].from].op) {
					break search
				}
			}
		}
		if i == k {
			return steps
		}
		j := (i + span) % k
		out := make([]cycleStep, 0, k-span+1)
		out = append(out, cycleStep{from: steps[i].from, to: steps[(j+k-1)%k].to, kind: kind, read: -1})
		for t := range k - span {
			out = append(out, steps[(j+t)%k])
		}
		steps = out
	}
}
