package checker

import (
	"context"
	"fmt"
	"strings"

	"github.com/highwater-io/highwater/history"
)

// TxnCycles looks for dependency cycles among transactions (G0, G1c) as
// Elle and Jepsen's Kafka workload define them: a write-write edge T1 → T2
// when T1's value directly precedes T2's in a partition's offset order, a
// write-read edge T1 → T2 when a read inside T2 returned T1's value.
//
// Kafka does not isolate concurrent transactions' writes from each other,
// so a cycle of write-write edges (G0) is allowed there (Jepsen's Kafka
// checker allows it too): TxnCycles counts G0 cycles in Stats["G0-allowed"]
// and reports them as anomalies only with StrictG0. It reports as G1c only
// cycles that no interleaving can explain: it searches a graph of events
// (each transaction's poll, each record's append, its EndTxn) whose edges
// are what Kafka does order — a transaction polls before it sends and sends
// before it commits, a partition's records append in offset order, and a
// read_committed read follows the commit of what it returned. A cycle
// there needs at least one write-read edge, so it is G1c.
type TxnCycles struct {
	// StrictG0 reports write-write cycles as G0 anomalies (for a broker
	// that promises to isolate transactions' writes; Kafka does not).
	StrictG0 bool
}

// Name implements Checker.
func (*TxnCycles) Name() string { return "txn-cycles" }

// Check implements Checker.
func (c *TxnCycles) Check(ctx context.Context, h *history.History) Result {
	m, err := buildTxnModel(ctx, h)
	if err != nil {
		return Result{Valid: Unknown, Reason: fmt.Sprintf("txn-cycles: %v", err)}
	}
	g := newEventGraph(m)
	var col collector
	sccs, err := g.sccs(ctx)
	if err != nil {
		return Result{Valid: Unknown, Reason: fmt.Sprintf("txn-cycles: %v", err)}
	}
	for _, scc := range sccs {
		if cyc := g.shortestCycle(scc); len(cyc) > 0 {
			col.add(g.explain(cyc))
		}
	}
	g0, err := c.writeCycles(ctx, m, &col)
	if err != nil {
		return Result{Valid: Unknown, Reason: fmt.Sprintf("txn-cycles: %v", err)}
	}
	r := Result{Counts: col.counts, Anomalies: col.anomalies,
		Stats: map[string]int64{"nodes": int64(g.n), "edges": int64(len(g.to)), "G0-allowed": int64(g0)}}
	if c.StrictG0 {
		delete(r.Stats, "G0-allowed")
	}
	r.Valid = Valid
	if len(col.counts) > 0 {
		r.Valid = Invalid
	}
	return r
}

// Node kinds of the event graph.
const (
	nodeAppend = iota // one record's append
	nodeCommit        // an op's EndTxn (a plain send's acknowledgement)
	nodeRead          // an op's poll inside its transaction
)

type eventNode struct {
	kind  int8
	op    int
	value string // appends only
	tp    history.TopicPartition
	off   int64
}

// eventGraph is a compressed adjacency list over eventNodes.
type eventGraph struct {
	m     *txnModel
	nodes []eventNode
	n     int
	start []int // CSR offsets, len n+1
	to    []int
}

func newEventGraph(m *txnModel) *eventGraph {
	g := &eventGraph{m: m}
	commit := map[int]int{}
	read := map[int]int{}
	appendOf := map[string]int{}
	node := func(e eventNode) int { g.nodes = append(g.nodes, e); return len(g.nodes) - 1 }
	var edges [][2]int
	for tp, vs := range m.versionOrders() {
		prev := []int{}
		var cur []int
		curOff := int64(-1)
		for _, v := range vs {
			if _, dup := appendOf[v.value]; dup {
				continue // a duplicate: its lowest offset stands for it
			}
			w := m.writes[v.value]
			a := node(eventNode{kind: nodeAppend, op: w.op, value: v.value, tp: tp, off: v.offset})
			appendOf[v.value] = a
			if v.offset != curOff {
				prev, cur, curOff = cur, nil, v.offset
			}
			cur = append(cur, a)
			for _, p := range prev {
				edges = append(edges, [2]int{p, a}) // ww: offset order
			}
			c, ok := commit[w.op]
			if !ok {
				c = node(eventNode{kind: nodeCommit, op: w.op})
				commit[w.op] = c
			}
			edges = append(edges, [2]int{a, c}) // a record appends before its commit
		}
	}
	for _, r := range m.reads {
		if !r.inTxn {
			continue
		}
		w, ok := m.writes[r.value]
		c, written := commit[w.op]
		if !ok || !written || w.op == r.op || w.outcome == outcomeAborted {
			continue
		}
		rd, ok := read[r.op]
		if !ok {
			rd = node(eventNode{kind: nodeRead, op: r.op})
			read[r.op] = rd
		}
		edges = append(edges, [2]int{c, rd}) // wr: committed before it was read
	}
	for v, a := range appendOf {
		if rd, ok := read[m.writes[v].op]; ok {
			edges = append(edges, [2]int{rd, a}) // a transaction polls before it sends
		}
	}
	g.n = len(g.nodes)
	g.start = make([]int, g.n+1)
	for _, e := range edges {
		g.start[e[0]+1]++
	}
	for i := range g.n {
		g.start[i+1] += g.start[i]
	}
	g.to = make([]int, len(edges))
	fill := append([]int(nil), g.start[:g.n]...)
	for _, e := range edges {
		g.to[fill[e[0]]] = e[1]
		fill[e[0]]++
	}
	return g
}

func (g *eventGraph) succ(v int) []int { return g.to[g.start[v]:g.start[v+1]] }

// sccs returns the strongly connected components with more than one node
// (Tarjan's algorithm, iterative so a long chain cannot overflow the stack).
func (g *eventGraph) sccs(ctx context.Context) ([][]int, error) {
	index := make([]int, g.n)
	low := make([]int, g.n)
	onStack := make([]bool, g.n)
	for i := range index {
		index[i] = -1
	}
	var stack, out [][]int
	_ = stack
	var st []int
	next := 0
	type frame struct{ v, i int }
	for root := range g.n {
		if index[root] >= 0 {
			continue
		}
		if root%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		calls := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		st = append(st, root)
		onStack[root] = true
		for len(calls) > 0 {
			f := &calls[len(calls)-1]
			succ := g.succ(f.v)
			if f.i < len(succ) {
				w := succ[f.i]
				f.i++
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					st = append(st, w)
					onStack[w] = true
					calls = append(calls, frame{w, 0})
				} else if onStack[w] {
					low[f.v] = min(low[f.v], index[w])
				}
				continue
			}
			v := f.v
			calls = calls[:len(calls)-1]
			if len(calls) > 0 {
				p := calls[len(calls)-1].v
				low[p] = min(low[p], low[v])
			}
			if low[v] != index[v] {
				continue
			}
			var comp []int
			for {
				w := st[len(st)-1]
				st = st[:len(st)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			if len(comp) > 1 {
				out = append(out, comp)
			}
		}
	}
	return out, nil
}

// shortestCycle returns a shortest cycle inside scc through one of its
// read nodes (every cycle has one), as a node path whose last node leads
// back to the first.
func (g *eventGraph) shortestCycle(scc []int) []int {
	in := make(map[int]bool, len(scc))
	start := -1
	for _, v := range scc {
		in[v] = true
		if start < 0 && g.nodes[v].kind == nodeRead {
			start = v
		}
	}
	if start < 0 {
		start = scc[0]
	}
	parent := map[int]int{start: -1}
	queue := []int{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range g.succ(v) {
			if !in[w] {
				continue
			}
			if w == start {
				var path []int
				for x := v; x >= 0; x = parent[x] {
					path = append(path, x)
				}
				for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
					path[i], path[j] = path[j], path[i]
				}
				return path
			}
			if _, seen := parent[w]; !seen {
				parent[w] = v
				queue = append(queue, w)
			}
		}
	}
	return nil
}

// explain turns an event cycle into a G1c anomaly naming the operations
// in order and why each one must precede the next.
func (g *eventGraph) explain(cyc []int) Anomaly {
	a := Anomaly{Type: CycleG1c}
	var steps []string
	var ops []int
	for i, v := range cyc {
		w := cyc[(i+1)%len(cyc)]
		from, to := g.nodes[v], g.nodes[w]
		if len(ops) == 0 || ops[len(ops)-1] != from.op {
			ops = append(ops, from.op)
		}
		switch {
		case from.kind == nodeAppend && to.kind == nodeAppend:
			steps = append(steps, fmt.Sprintf("%s →ww %s (%s: %q@%d precedes %q@%d)",
				g.m.describe(from.op), g.m.describe(to.op), from.tp, from.value, from.off, to.value, to.off))
			a.Values = append(a.Values, from.value, to.value)
			a.Offsets = append(a.Offsets, from.off, to.off)
			if a.Topic == "" {
				a.Topic, a.Partition = from.tp.Topic, from.tp.Partition
			}
		case from.kind == nodeCommit && to.kind == nodeRead:
			v := g.readOf(to.op, from.op)
			steps = append(steps, fmt.Sprintf("%s →wr %s (it read %q before committing)", g.m.describe(from.op), g.m.describe(to.op), v))
			a.Values = append(a.Values, v)
		}
	}
	for _, op := range ops {
		a.Ops = append(a.Ops, g.m.ref(op))
	}
	a.Explanation = fmt.Sprintf("cycle of %d operations that no interleaving allows: %s, and back", len(ops), strings.Join(steps, "; "))
	return a
}

// readOf names a value op reader read inside its transaction that op
// writer wrote.
func (g *eventGraph) readOf(reader, writer int) string {
	x := g.m.txnValue(&g.m.h.Ops[reader])
	if x == nil {
		return ""
	}
	for _, pr := range x.Reads {
		for _, r := range pr.Records {
			if w, ok := g.m.writes[r.Value]; ok && w.op == writer {
				return r.Value
			}
		}
	}
	return ""
}

// writeCycles finds cycles of write-write edges between operations
// (Elle's G0). It reports them as anomalies only with StrictG0 and returns
// how many strongly connected groups of operations it found.
func (c *TxnCycles) writeCycles(ctx context.Context, m *txnModel, col *collector) (int, error) {
	g := &eventGraph{m: m}
	opNode := map[int]int{}
	node := func(op int) int {
		if n, ok := opNode[op]; ok {
			return n
		}
		g.nodes = append(g.nodes, eventNode{kind: nodeCommit, op: op})
		opNode[op] = len(g.nodes) - 1
		return opNode[op]
	}
	type edge struct{ a, b int }
	seen := map[edge]bool{}
	why := map[edge]string{}
	for tp, vs := range m.versionOrders() {
		for i := 1; i < len(vs); i++ {
			a, b := m.writes[vs[i-1].value].op, m.writes[vs[i].value].op
			if a == b || vs[i-1].offset == vs[i].offset {
				continue
			}
			e := edge{node(a), node(b)}
			if !seen[e] {
				seen[e] = true
				why[e] = fmt.Sprintf("%s: %q@%d precedes %q@%d", tp, vs[i-1].value, vs[i-1].offset, vs[i].value, vs[i].offset)
			}
		}
	}
	g.n = len(g.nodes)
	g.start = make([]int, g.n+1)
	for e := range seen {
		g.start[e.a+1]++
	}
	for i := range g.n {
		g.start[i+1] += g.start[i]
	}
	g.to = make([]int, len(seen))
	fill := append([]int(nil), g.start[:g.n]...)
	for e := range seen {
		g.to[fill[e.a]] = e.b
		fill[e.a]++
	}
	sccs, err := g.sccs(ctx)
	if err != nil || !c.StrictG0 {
		return len(sccs), err
	}
	for _, scc := range sccs {
		cyc := g.shortestCycle(scc)
		a := Anomaly{Type: CycleG0}
		var steps []string
		for i, v := range cyc {
			w := cyc[(i+1)%len(cyc)]
			a.Ops = append(a.Ops, m.ref(g.nodes[v].op))
			steps = append(steps, fmt.Sprintf("%s →ww %s (%s)", m.describe(g.nodes[v].op), m.describe(g.nodes[w].op), why[edge{v, w}]))
		}
		a.Explanation = fmt.Sprintf("write cycle of %d transactions: %s", len(cyc), strings.Join(steps, "; "))
		col.add(a)
	}
	return len(sccs), nil
}
