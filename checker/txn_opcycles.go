package checker

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Finding types of TxnCycles: process and realtime cycles of Jepsen's
// graph of whole operations that an interleaving of Kafka's transactions
// explains. Jepsen's Kafka workload reports them under the Elle names
// without the suffix and allows them; so does TxnCycles.
const (
	CycleG0ProcessAllowed   = "G0-process-allowed"
	CycleG1cProcessAllowed  = "G1c-process-allowed"
	CycleG0RealtimeAllowed  = "G0-realtime-allowed"
	CycleG1cRealtimeAllowed = "G1c-realtime-allowed"
)

// newOpGraph builds the graph Jepsen's Kafka checker searches from the
// event graph ev: one node per operation of ev, its write-write edges
// (between the writers of adjacent versions) and write-read edges (from a
// value's writer to every op that read it) lifted to whole operations,
// and the process and realtime edges of opOrder. A lifted edge's read
// field is the event edge it came from, which explains it. Parallel edges
// are kept: deduplicating would cost more than searching them.
func newOpGraph(ctx context.Context, ev *eventGraph) (*eventGraph, error) {
	m := ev.m
	g := &eventGraph{m: m, ev: ev}
	node := noNodes(len(m.h.Ops)) // op → node
	var ops []int                 // ops in the event graph, in invocation order
	for _, nd := range ev.nodes {
		if node[nd.op] < 0 {
			node[nd.op] = 0
			ops = append(ops, nd.op)
		}
	}
	slices.Sort(ops)
	g.nodes = make([]eventNode, len(ops))
	for i, op := range ops {
		node[op] = int32(i)
		g.nodes[i] = eventNode{kind: nodeCommit, op: op}
	}
	edges := make([]graphEdge, 0, len(ev.to)/2)
	link := func(a, b int, kind int8, detail int) {
		if a != b {
			edges = append(edges, graphEdge{from: int(node[a]), to: int(node[b]), kind: kind, read: detail})
		}
	}
	for e, k := range ev.kind {
		if k == edgeWW || k == edgeWR {
			link(ev.nodes[ev.from[e]].op, ev.nodes[ev.to[e]].op, k, e)
		}
	}
	if err := opOrder(ctx, m.h, ops, func(from, to int, kind int8) { link(from, to, kind, -1) }); err != nil {
		return nil, err
	}
	g.finish(edges)
	return g, nil
}

// opCycles searches the graph of whole operations g (newOpGraph) for
// cycles through a process or a realtime edge. Kafka's transactions do
// not isolate writes, so a transaction may write before and after another
// one that completed in between: such cycles are interleavings, not
// anomalies. It reports one per strongly connected component as a finding
// (at most MaxExamples of a type), skipping components that hold an op of
// an event-graph cycle of the same pass (covered: reported as an anomaly
// already), and counts them.
func opCycles(ctx context.Context, g *eventGraph, covered [2]map[int]bool) ([]Anomaly, map[string]int64, error) {
	defer func() { g.mask = maskAll }()
	var findings []Anomaly
	counts := map[string]int64{}
	for i, pass := range orderPasses {
		g.mask = pass.mask
		sccs, err := g.sccs(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, scc := range sccs {
			if slices.ContainsFunc(scc, func(v int) bool { return covered[i][g.nodes[v].op] }) {
				continue
			}
			cyc := g.cycleVia(scc, pass.via)
			if cyc == nil {
				continue
			}
			steps := make([]cycleStep, len(cyc))
			for j, e := range cyc {
				steps[j] = cycleStep{from: g.from[e], to: g.to[e], kind: g.kind[e], read: int(g.read[e])}
			}
			a, text, n := g.describeSteps(g.shortcut(steps, pass.via))
			a.Type += "-allowed"
			a.Explanation = fmt.Sprintf("cycle of %d whole operations (Jepsen's graph) that an interleaving of Kafka's unisolated transactional writes explains, so allowed: %s, and back",
				n, strings.Join(text, "; "))
			if counts[a.Type]++; counts[a.Type] <= MaxExamples {
				findings = append(findings, a)
			}
		}
	}
	return findings, counts, nil
}
