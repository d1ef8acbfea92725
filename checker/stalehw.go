package checker

import (
	"fmt"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/highwater-io/highwater/history"
)

// StaleHighWatermark names the non-fatal finding for reads that reported a
// high watermark below an offset already acknowledged, during or shortly
// after a fault (doc.go, "Stale high watermark after failover").
const StaleHighWatermark = "stale-high-watermark-after-failover"

// DefaultStaleHWGrace is how long after a fault window ends a read may
// still report a lagging high watermark (Linearizability.StaleHWGrace).
// Kafka's new leader catches up once it commits a record of its own epoch:
// 2–3 s in the kept Kafka 4.1.1 history; a window's leader change can come
// late in the window (a paused leader is fenced only after its session
// times out), so the grace is generous.
const DefaultStaleHWGrace = 10 * time.Second

// DefaultStaleHWSlack is how far before a fault window a high watermark
// must have been known for a read excused by that window not to go below
// it (Linearizability.StaleHWSlack). A follower learns the leader's high
// watermark with every fetch response, and Kafka followers fetch at least
// every replica.fetch.wait.max.ms (500 ms): whatever was acknowledged a
// second before the fault, every in-sync follower (so every electable new
// leader) knows is committed.
const DefaultStaleHWSlack = time.Second

// hwEvidence is what one partition's completed operations prove about its
// high watermark: after times[i], it was at least floor[i] (a prefix
// maximum of acknowledged offset+1 and reported high watermarks), shown by
// refs[i].
type hwEvidence struct {
	times []int64
	floor []int64
	refs  []*OpRef // into the operations' inputs: no copy per operation
}

// at is the high watermark proven by operations that returned strictly
// before t, and the operation that proves it (ok false when none).
func (e *hwEvidence) at(t int64) (int64, OpRef, bool) {
	if e == nil {
		return 0, OpRef{}, false
	}
	i := sort.Search(len(e.times), func(i int) bool { return e.times[i] >= t })
	if i == 0 {
		return 0, OpRef{}, false
	}
	return e.floor[i-1], *e.refs[i-1], true
}

// hwEvidenceOf gathers, per partition, the acknowledgements (offset+1) and
// reported high watermarks of the operations porcupine checks, in the order
// they returned.
func hwEvidenceOf(ops []porcupine.Operation) map[history.TopicPartition]*hwEvidence {
	type point struct {
		t, hw int64
		ref   *OpRef
	}
	pts := map[history.TopicPartition][]point{}
	for _, op := range ops {
		in, out := op.Input.(*linInput), op.Output.(*linOutput)
		switch {
		case in.kind == linSend && out.known && !in.info:
			pts[in.tp] = append(pts[in.tp], point{op.Return, out.offset + 1, &in.ref})
		case in.kind != linSend && out.hw >= 0:
			pts[in.tp] = append(pts[in.tp], point{op.Return, out.hw, &in.ref})
		}
	}
	res := make(map[history.TopicPartition]*hwEvidence, len(pts))
	for tp, ps := range pts {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].t < ps[j].t })
		e := &hwEvidence{times: make([]int64, len(ps)), floor: make([]int64, len(ps)), refs: make([]*OpRef, len(ps))}
		best := ps[0] // bad input (negative offsets) must still name a proof
		for i, p := range ps {
			if p.hw > best.hw {
				best = p
			}
			e.times[i], e.floor[i], e.refs[i] = p.t, best.hw, best.ref
		}
		res[tp] = e
	}
	return res
}

// excuseStaleReads marks the reads that may report a lagging high
// watermark (linInput.relaxed): those overlapping a fault window or the
// grace after it whose high watermark lies between what was proven slack
// before the window began and what was proven slack after it began. The
// lag Kafka allows is a high watermark frozen at what the old leader had
// told its followers (or, for an isolated old leader, its own) when the
// fault struck: not lower than what was committed before, not higher than
// what was committed by then. A broker whose answers trail the acks by a
// constant lag all along (KAFKA.md's planted stale read) reports values
// past that band once writes resume, and stays strict. Everything else
// stays strict.
func excuseStaleReads(h *history.History, ops []porcupine.Operation, ev map[history.TopicPartition]*hwEvidence, grace, slack time.Duration) {
	type window struct{ start, end int64 }
	ws := make([]window, 0, len(h.Faults))
	for _, w := range h.Faults {
		end := w.StopTime
		if end < 0 {
			end = h.EndTime()
		}
		ws = append(ws, window{w.StartTime, end + int64(grace)})
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].start < ws[j].start })
	for _, op := range ops {
		in, out := op.Input.(*linInput), op.Output.(*linOutput)
		if in.kind == linSend || out.hw < 0 {
			continue
		}
		for _, w := range ws {
			if w.start > op.Return {
				break
			}
			if op.Call > w.end {
				continue
			}
			floor, _, _ := ev[in.tp].at(w.start - int64(slack))
			ceiling, _, _ := ev[in.tp].at(w.start + int64(slack))
			if floor <= out.hw && out.hw <= ceiling {
				in.relaxed = true
				break
			}
		}
	}
}

// staleFindings lists, per partition and fault window, the excused reads
// whose high watermark was below what an operation that returned before
// they were invoked proved: one finding per episode, with its span, how
// many reads and how far behind.
func staleFindings(chunks []linChunk, ev map[history.TopicPartition]*hwEvidence) []Anomaly {
	type episode struct {
		tp          history.TopicPartition
		first, last porcupine.Operation
		reads       int
		lag         int64
		hw, known   int64
		proof       OpRef
	}
	var eps []*episode
	open := map[history.TopicPartition]*episode{}
	var sorted []porcupine.Operation
	for _, ch := range chunks {
		for _, op := range ch.ops {
			if op.Input.(*linInput).relaxed {
				sorted = append(sorted, op)
			}
		}
	}
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Call < sorted[j].Call })
	for _, op := range sorted {
		in, out := op.Input.(*linInput), op.Output.(*linOutput)
		known, proof, ok := ev[in.tp].at(op.Call)
		if !ok || out.hw >= known {
			// A fresh read ends the partition's episode.
			delete(open, in.tp)
			continue
		}
		e := open[in.tp]
		if e == nil {
			e = &episode{tp: in.tp, first: op}
			open[in.tp] = e
			eps = append(eps, e)
		}
		e.last = op
		e.reads++
		if lag := known - out.hw; lag > e.lag {
			e.lag, e.hw, e.known, e.proof = lag, out.hw, known, proof
		}
	}
	out := make([]Anomaly, 0, len(eps))
	for _, e := range eps {
		first, last := e.first.Input.(*linInput).ref, e.last.Input.(*linInput).ref
		a := Anomaly{Type: StaleHighWatermark, Topic: e.tp.Topic, Partition: e.tp.Partition,
			Offsets: []int64{e.hw, e.known - 1}, Ops: []OpRef{first, e.proof},
			Start: e.first.Call, End: e.last.Return}
		if e.reads > 1 {
			a.Ops = append(a.Ops, last)
		}
		a.Explanation = fmt.Sprintf("%s: %d read(s) between %s and %s (%s) reported a high watermark up to %d below what was already acknowledged "+
			"(hw %d, but %s showed offset %d committed), inside or right after a fault window; allowed for a new leader catching up (KIP-101/KIP-207), not a lost write. First: %s",
			e.tp, e.reads, seconds(e.first.Call), seconds(e.last.Return), time.Duration(e.last.Return-e.first.Call).Round(time.Millisecond),
			e.lag, e.hw, e.proof, e.known-1, first)
		out = append(out, a)
	}
	return out
}
