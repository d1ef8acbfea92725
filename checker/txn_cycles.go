package checker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/highwater-io/highwater/history"
)

// TxnCycles looks for dependency cycles among transactions (G0, G1c and
// their process and realtime variants) as Elle and Jepsen's Kafka workload
// define them: a write-write edge T1 → T2 when T1's value directly
// precedes T2's in a partition's offset order, a write-read edge T1 → T2
// when a read inside T2 (or a poll T2) returned T1's value, a process edge
// T1 → T2 when one process completed T1 and then invoked T2, and a
// realtime edge T1 → T2 when T1 completed before T2 was invoked.
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
//
// The process and realtime variants are searched in the same event graph,
// with each op's invocation and completion added as events and polls as
// readers (a read_committed poll after the commit of what it returned, a
// read_uncommitted one after its append): an op's events follow its
// invocation and precede its completion (ok or fail; an info op may take
// effect later, so nothing is ordered after it), one process's ops run
// one after another, and an op completed before another was invoked
// precedes it. Every such edge is an order a correct broker keeps — a
// record appended after another was acknowledged gets a higher offset,
// and a read_committed read returns only what committed before it — so a
// cycle through one (G0-process, G1c-process, G0-realtime, G1c-realtime)
// is an anomaly, not an allowed interleaving: records landed or were read
// against real time. A -process cycle is a -realtime cycle too and is
// reported as both, as Elle does.
//
// Cycles through a process or realtime edge that only Jepsen's coarser
// graph of whole operations shows — an interleaving of unisolated writes
// explains them, and Jepsen's Kafka checker allows them — are findings,
// not anomalies, since Kafka promises no serializability, let alone strict
// serializability: G0-process-allowed, G1c-process-allowed,
// G0-realtime-allowed and G1c-realtime-allowed, one per strongly connected
// component that holds no op of an anomaly's, counted in Stats under the
// same names.
//
// G-single and G2-item need anti-dependency (rw) edges, which a poll
// cannot justify — it reads from its position, not the log's end — so
// they are not checked (Jepsen's Kafka checker leaves rw edges out for the
// same reason).
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
	vo := m.versionOrders()
	g, err := newEventGraph(ctx, m, vo)
	if err != nil {
		return Result{Valid: Unknown, Reason: fmt.Sprintf("txn-cycles: %v", err)}
	}
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
	covered, err := g.orderCycles(ctx, &col)
	if err != nil {
		return Result{Valid: Unknown, Reason: fmt.Sprintf("txn-cycles: %v", err)}
	}
	og, err := newOpGraph(ctx, g)
	if err != nil {
		return Result{Valid: Unknown, Reason: fmt.Sprintf("txn-cycles: %v", err)}
	}
	findings, allowed, err := opCycles(ctx, og, covered)
	if err != nil {
		return Result{Valid: Unknown, Reason: fmt.Sprintf("txn-cycles: %v", err)}
	}
	g0, err := c.writeCycles(ctx, og, &col)
	if err != nil {
		return Result{Valid: Unknown, Reason: fmt.Sprintf("txn-cycles: %v", err)}
	}
	r := Result{Counts: col.counts, Anomalies: col.anomalies, Findings: findings,
		Stats: map[string]int64{"nodes": int64(g.n), "edges": int64(len(g.to)), "G0-allowed": int64(g0)}}
	for t, n := range allowed {
		r.Stats[t] = n
	}
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
	nodeCommit        // an op's EndTxn (a plain send's acknowledgement): all its appends are done
	nodeRead          // an op's reads (a transaction's polls, a poll op's records)
	nodeBegin         // an op's invocation: its appends and completion come after
	nodeEnd           // an op's completion (ok or fail): everything it did came before
)

type eventNode struct {
	kind  int8
	op    int
	value string // appends only
	tp    history.TopicPartition
	off   int64
}

// Edge kinds of the event graph. A cycle is classified by the kinds it
// uses (Elle's naming): no process or realtime edge — G0 or G1c; a
// process edge but no realtime one — G0-process or G1c-process; a
// realtime edge — G0-realtime or G1c-realtime; G1c* when a write-read
// edge is on it, G0* otherwise.
const (
	edgeOrder    int8 = iota // inside one op: begin, polls, appends, commit, end
	edgeWW                   // a partition's offset order
	edgeWR                   // a read returned what an append wrote
	edgeProcess              // one process: an op completed, then it invoked the next
	edgeRealtime             // an op completed before another was invoked
)

// edgeMask selects the edge kinds a search follows.
type edgeMask uint8

func maskOf(kinds ...int8) edgeMask {
	var m edgeMask
	for _, k := range kinds {
		m |= 1 << k
	}
	return m
}

func (m edgeMask) has(k int8) bool { return m&(1<<k) != 0 }

var (
	maskBase     = maskOf(edgeOrder, edgeWW, edgeWR)
	maskProcess  = maskBase | maskOf(edgeProcess)
	maskRealtime = maskProcess | maskOf(edgeRealtime)
	maskAll      = maskRealtime
)

// graphEdge is an edge being built; read is the index into txnModel.reads
// of the read that justifies a write-read edge, -1 otherwise.
type graphEdge struct {
	from, to int
	kind     int8
	read     int
}

// eventGraph is a compressed adjacency list over eventNodes, with each
// edge's kind (and, for write-read edges, its read). mask selects the
// kinds sccs and the cycle searches follow.
type eventGraph struct {
	m     *txnModel
	nodes []eventNode
	n     int
	start []int // CSR offsets, len n+1
	to    []int
	from  []int
	kind  []int8
	read  []int32 // per edge: index into m.reads (wr), the lifted edge of ev (graphs of whole ops), -1
	mask  edgeMask
	ev    *eventGraph // for a graph of whole operations: the event graph its ww and wr edges come from
}

// eventBuilder assembles the event graph: nodes per op, then edges.
// commit and read hold each op's commit and read node, -1 for none.
type eventBuilder struct {
	g        *eventGraph
	edges    []graphEdge
	commit   []int32
	read     []int32
	appendOf map[string]int
}

func (b *eventBuilder) node(e eventNode) int {
	b.g.nodes = append(b.g.nodes, e)
	return len(b.g.nodes) - 1
}

func (b *eventBuilder) edge(from, to int, kind int8) {
	b.edges = append(b.edges, graphEdge{from: from, to: to, kind: kind, read: -1})
}

func noNodes(n int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = -1
	}
	return s
}

// newEventGraph builds the event graph of m over its partitions' version
// orders vo (m.versionOrders()).
func newEventGraph(ctx context.Context, m *txnModel, vo map[history.TopicPartition][]txnVersion) (*eventGraph, error) {
	ops := len(m.h.Ops)
	b := &eventBuilder{g: &eventGraph{m: m, mask: maskBase}, commit: noNodes(ops), read: noNodes(ops),
		appendOf: make(map[string]int, len(m.writes))}
	// Sized for the usual shape: an append and a couple of edges per
	// write, a wr edge per read, a few nodes and edges per op.
	b.g.nodes = make([]eventNode, 0, len(m.writes)+3*ops)
	b.edges = make([]graphEdge, 0, 2*len(m.writes)+len(m.reads)+8*ops)
	b.addAppends(vo)
	b.addReads()
	for a, nd := range b.g.nodes {
		if rd := b.read[nd.op]; nd.kind == nodeAppend && rd >= 0 {
			b.edge(int(rd), a, edgeOrder) // a transaction polls before it sends
		}
	}
	if err := b.addOrder(ctx); err != nil {
		return nil, err
	}
	b.g.finish(b.edges)
	return b.g, nil
}

// addAppends adds each observed version's append, its op's commit and the
// write-write edges of offset order.
func (b *eventBuilder) addAppends(vo map[history.TopicPartition][]txnVersion) {
	m := b.g.m
	for tp, vs := range vo {
		prev := []int{}
		var cur []int
		curOff := int64(-1)
		for _, v := range vs {
			if _, dup := b.appendOf[v.value]; dup {
				continue // a duplicate: its lowest offset stands for it
			}
			w := m.writes[v.value]
			a := b.node(eventNode{kind: nodeAppend, op: w.op, value: v.value, tp: tp, off: v.offset})
			b.appendOf[v.value] = a
			if v.offset != curOff {
				prev, cur, curOff = cur, nil, v.offset
			}
			cur = append(cur, a)
			for _, p := range prev {
				b.edge(p, a, edgeWW) // ww: offset order
			}
			c := int(b.commit[w.op])
			if c < 0 {
				c = b.node(eventNode{kind: nodeCommit, op: w.op})
				b.commit[w.op] = int32(c)
			}
			b.edge(a, c, edgeOrder) // a record appends before its commit
		}
	}
}

// addReads adds write-read edges: a read_committed read (inside a
// transaction, or a poll so marked) follows the commit of what it
// returned; a read_uncommitted poll follows the append of what it
// returned.
func (b *eventBuilder) addReads() {
	m := b.g.m
	for i, r := range m.reads {
		w, ok := m.writes[r.value]
		if !ok || w.op == r.op || w.outcome == outcomeAborted || w.tp != r.tp {
			continue
		}
		src := -1
		if r.committed {
			src = int(b.commit[w.op])
		} else if a, appended := b.appendOf[r.value]; appended {
			src = a
		}
		if src < 0 {
			continue
		}
		rd := int(b.read[r.op])
		if rd < 0 {
			rd = b.node(eventNode{kind: nodeRead, op: r.op})
			b.read[r.op] = int32(rd)
		}
		b.edges = append(b.edges, graphEdge{from: src, to: rd, kind: edgeWR, read: i})
	}
}

// finish lays edges out as a compressed adjacency list.
func (g *eventGraph) finish(edges []graphEdge) {
	g.n = len(g.nodes)
	g.start = make([]int, g.n+1)
	for _, e := range edges {
		g.start[e.from+1]++
	}
	for i := range g.n {
		g.start[i+1] += g.start[i]
	}
	g.to = make([]int, len(edges))
	g.from = make([]int, len(edges))
	g.kind = make([]int8, len(edges))
	g.read = make([]int32, len(edges))
	fill := append([]int(nil), g.start[:g.n]...)
	for _, e := range edges {
		i := fill[e.from]
		g.to[i], g.from[i], g.kind[i], g.read[i] = e.to, e.from, e.kind, int32(e.read)
		fill[e.from]++
	}
}

// sccs returns the strongly connected components with more than one node
// over the edges g.mask selects (Tarjan's algorithm, iterative so a long
// chain cannot overflow the stack).
func (g *eventGraph) sccs(ctx context.Context) ([][]int, error) {
	index := make([]int, g.n)
	low := make([]int, g.n)
	onStack := make([]bool, g.n)
	for i := range index {
		index[i] = -1
	}
	var out [][]int
	var st []int
	next := 0
	type frame struct{ v, e int }
	var calls []frame // reused: one allocation per search, not per root
	var comp []int
	for root := range g.n {
		if index[root] >= 0 {
			continue
		}
		if root%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		calls = append(calls[:0], frame{root, g.start[root]})
		index[root], low[root] = next, next
		next++
		st = append(st, root)
		onStack[root] = true
		for len(calls) > 0 {
			f := &calls[len(calls)-1]
			if f.e < g.start[f.v+1] {
				e := f.e
				f.e++
				if !g.mask.has(g.kind[e]) {
					continue
				}
				w := g.to[e]
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					st = append(st, w)
					onStack[w] = true
					calls = append(calls, frame{w, g.start[w]})
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
			comp = comp[:0] // reused; copied out only for a real component
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
				out = append(out, slices.Clone(comp))
			}
		}
	}
	return out, nil
}

// path returns the edges of a shortest path from node src to node dst
// inside the node set in, over the edges g.mask selects (breadth-first);
// src == dst asks for a shortest cycle through src. nil when there is
// none.
func (g *eventGraph) path(in map[int]bool, src, dst int) []int {
	parent := map[int]int{src: -1} // node → edge that reached it
	queue := []int{src}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for e := g.start[v]; e < g.start[v+1]; e++ {
			w := g.to[e]
			if !g.mask.has(g.kind[e]) || !in[w] {
				continue
			}
			if w == dst {
				out := []int{e}
				for x := v; parent[x] >= 0; x = g.from[parent[x]] {
					out = append(out, parent[x])
				}
				slices.Reverse(out)
				return out
			}
			if _, seen := parent[w]; !seen {
				parent[w] = e
				queue = append(queue, w)
			}
		}
	}
	return nil
}

func nodeSet(scc []int) map[int]bool {
	in := make(map[int]bool, len(scc))
	for _, v := range scc {
		in[v] = true
	}
	return in
}

// shortestCycle returns a shortest cycle inside scc through one of its
// read nodes (every cycle of the base graph has one), as edges.
func (g *eventGraph) shortestCycle(scc []int) []int {
	start := scc[0]
	for _, v := range scc {
		if g.nodes[v].kind == nodeRead {
			start = v
			break
		}
	}
	return g.path(nodeSet(scc), start, start)
}

// explain turns an event cycle (edges) into an anomaly naming the
// operations in order and why each one must precede the next; its type
// follows the edge kinds (see edgeOrder).
func (g *eventGraph) explain(cyc []int) Anomaly {
	steps := g.collapse(cyc)
	if g.mask.has(edgeRealtime) {
		steps = g.shortcut(steps, edgeRealtime)
	} else if g.mask.has(edgeProcess) {
		steps = g.shortcut(steps, edgeProcess)
	}
	a, text, n := g.describeSteps(steps)
	a.Explanation = fmt.Sprintf("cycle of %d operations that no interleaving allows: %s, and back", n, strings.Join(text, "; "))
	return a
}

// describeSteps fills an anomaly's type, ops, values and offsets from a
// cycle's steps, and says for each step why its first op precedes the
// next; n is the number of ops on the cycle.
func (g *eventGraph) describeSteps(steps []cycleStep) (a Anomaly, text []string, n int) {
	var ops []int
	var wr, proc, rt bool
	for _, s := range steps {
		from, to := g.nodes[s.from], g.nodes[s.to]
		if len(ops) == 0 || ops[len(ops)-1] != from.op {
			ops = append(ops, from.op)
		}
		fromOp, toOp := g.m.describe(from.op), g.m.describe(to.op)
		switch s.kind {
		case edgeWW:
			x, y := g.wwNodes(s)
			text = append(text, fmt.Sprintf("%s →ww %s (%s)", fromOp, toOp, wwWhy(x, y)))
			a.Values = append(a.Values, x.value, y.value)
			a.Offsets = append(a.Offsets, x.off, y.off)
			if a.Topic == "" {
				a.Topic, a.Partition = x.tp.Topic, x.tp.Partition
			}
		case edgeWR:
			wr = true
			ri := s.read
			if g.ev != nil {
				ri = int(g.ev.read[ri])
			}
			r := g.m.reads[ri]
			text = append(text, fmt.Sprintf("%s →wr %s (%s)", fromOp, toOp, g.readWhy(r)))
			a.Values = append(a.Values, r.value)
		case edgeProcess:
			proc = true
			f, t := &g.m.h.Ops[from.op], &g.m.h.Ops[to.op]
			text = append(text, fmt.Sprintf("%s →process %s (process %d completed the first at %s and then invoked the second at %s)",
				fromOp, toOp, f.Process, seconds(f.Complete.Time), seconds(t.Invoke.Time)))
			a.Start, a.End = min(nonzero(a.Start), f.Complete.Time), max(a.End, t.Invoke.Time)
		case edgeRealtime:
			rt = true
			f, t := &g.m.h.Ops[from.op], &g.m.h.Ops[to.op]
			text = append(text, fmt.Sprintf("%s →rt %s (the first completed at %s, before the second was invoked at %s)",
				fromOp, toOp, seconds(f.Complete.Time), seconds(t.Invoke.Time)))
			a.Start, a.End = min(nonzero(a.Start), f.Complete.Time), max(a.End, t.Invoke.Time)
		}
	}
	a.Type = cycleType(wr, proc, rt)
	for _, op := range ops {
		a.Ops = append(a.Ops, g.m.ref(op))
	}
	return a, text, len(ops)
}

// wwNodes returns the two appends a write-write step joins (for a graph
// of whole operations, those of the event edge it was lifted from).
func (g *eventGraph) wwNodes(s cycleStep) (eventNode, eventNode) {
	if g.ev != nil {
		return g.ev.nodes[g.ev.from[s.read]], g.ev.nodes[g.ev.to[s.read]]
	}
	return g.nodes[s.from], g.nodes[s.to]
}

func wwWhy(x, y eventNode) string {
	return fmt.Sprintf("%s: %q@%d precedes %q@%d", x.tp, x.value, x.off, y.value, y.off)
}

// nonzero maps an unset (zero) start to the largest time, for min.
func nonzero(t int64) int64 {
	if t == 0 {
		return 1<<63 - 1
	}
	return t
}

// readWhy says what a write-read edge's read returned and why it orders
// the writer first.
func (g *eventGraph) readWhy(r txnRead) string {
	switch {
	case r.inTxn:
		return fmt.Sprintf("it read %q before committing", r.value)
	case r.committed:
		return fmt.Sprintf("its read_committed poll returned %q@%d, so the writer had committed", r.value, r.offset)
	}
	return fmt.Sprintf("its read_uncommitted poll returned %q@%d, so it had been appended", r.value, r.offset)
}

func cycleType(wr, proc, rt bool) string {
	switch {
	case rt && wr:
		return CycleG1cRealtime
	case rt:
		return CycleG0Realtime
	case proc && wr:
		return CycleG1cProcess
	case proc:
		return CycleG0Process
	case wr:
		return CycleG1c
	}
	return CycleG0
}

// writeCycles finds cycles of write-write edges between operations
// (Elle's G0) in the graph of whole operations g. It reports them as
// anomalies only with StrictG0 and returns how many strongly connected
// groups of operations it found.
func (c *TxnCycles) writeCycles(ctx context.Context, g *eventGraph, col *collector) (int, error) {
	defer func() { g.mask = maskAll }()
	g.mask = maskOf(edgeWW)
	sccs, err := g.sccs(ctx)
	if err != nil || !c.StrictG0 {
		return len(sccs), err
	}
	for _, scc := range sccs {
		cyc := g.shortestCycle(scc)
		a := Anomaly{Type: CycleG0}
		var steps []string
		for _, e := range cyc {
			v, w := g.nodes[g.from[e]].op, g.nodes[g.to[e]].op
			x, y := g.wwNodes(cycleStep{from: g.from[e], to: g.to[e], kind: edgeWW, read: int(g.read[e])})
			a.Ops = append(a.Ops, g.m.ref(v))
			steps = append(steps, fmt.Sprintf("%s →ww %s (%s)", g.m.describe(v), g.m.describe(w), wwWhy(x, y)))
		}
		a.Explanation = fmt.Sprintf("write cycle of %d transactions: %s", len(cyc), strings.Join(steps, "; "))
		col.add(a)
	}
	return len(sccs), nil
}
