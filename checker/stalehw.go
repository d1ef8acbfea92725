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

// DefaultStaleHWSpan bounds how far apart the acknowledgements a lagging
// read did not see may lie, and how long before its fault window began
// the first of them may have come (Linearizability.StaleHWSpan). A
// follower learns the leader's high watermark from every fetch response,
// and Kafka followers fetch at least every replica.fetch.wait.max.ms
// (500 ms): a new leader can have missed only what the old leader
// acknowledged in its last fetch round before it lost leadership. 1.5 s is
// that round with slack for scheduling on a loaded machine.
const DefaultStaleHWSpan = 1500 * time.Millisecond

// DefaultStaleHWCheckpoint is how old a replica's high-watermark
// checkpoint may be when it is killed (Linearizability.StaleHWCheckpoint):
// the reference broker writes it at most every 100 ms when it moved
// (broker/replication.go hwCheckpointInterval).
const DefaultStaleHWCheckpoint = 100 * time.Millisecond

// KafkaStaleHWCheckpoint is Apache Kafka's
// replica.high.watermark.checkpoint.interval.ms default (5 s): the
// checkpoint of a Kafka broker killed with -9 can be that old, so the
// harness sets it for Kafka clusters (history.ParamHWCheckpoint).
const KafkaStaleHWCheckpoint = 5 * time.Second

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

// provenAt is when an operation first proved the high watermark above o:
// the return of the earliest acknowledgement of an offset ≥ o or read
// reporting a high watermark > o (ok false when none did).
func (e *hwEvidence) provenAt(o int64) (int64, bool) {
	if e == nil {
		return 0, false
	}
	i := sort.Search(len(e.floor), func(i int) bool { return e.floor[i] > o })
	if i == len(e.floor) {
		return 0, false
	}
	return e.times[i], true
}

// staleWindow is a fault window stretched by the grace after it (ns).
// killed marks a kill -9 of whole processes (faults kill and az-loss);
// stop is when the window healed (its nodes restarted), -1 never.
type staleWindow struct {
	start, end, stop int64
	killed           bool
}

func staleWindows(h *history.History, grace time.Duration) []staleWindow {
	ws := make([]staleWindow, 0, len(h.Faults))
	for _, w := range h.Faults {
		end := w.StopTime
		if end < 0 {
			end = h.EndTime()
		}
		ws = append(ws, staleWindow{start: w.StartTime, end: end + int64(grace), stop: w.StopTime,
			killed: w.Fault == "kill" || w.Fault == "az-loss"})
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].start < ws[j].start })
	return ws
}

// staleEpisode is a run of lagging reads of one partition that one leader
// change explains: it opens with the first lagging read after a fresh one
// and lasts until the next fresh read or the end of its window. Only the
// excused reads count in it.
type staleEpisode struct {
	tp          history.TopicPartition
	window      staleWindow
	first, last porcupine.Operation
	reads       int
	lag         int64 // the largest: hw reported, known committed, proof
	hw, known   int64
	proof       OpRef
}

// add counts an excused read that reported hw while known was proven by
// proof.
func (e *staleEpisode) add(op porcupine.Operation, hw, known int64, proof OpRef) {
	if e.reads == 0 {
		e.first = op
	}
	e.last = op
	e.reads++
	if lag := known - hw; lag > e.lag {
		e.lag, e.hw, e.known, e.proof = lag, hw, known, proof
	}
}

// excuseStaleReads marks the reads that may report a lagging high
// watermark (linInput.relaxed), anchored at the leader change the history
// shows: the first read of a partition reporting a high watermark below
// an offset already proven committed (the history records no leader
// epochs). A lagging read is excused when
//
//   - it overlaps a fault window or the grace after it;
//   - the offsets it did not see, [its high watermark, the highest proven
//     committed before it was invoked), were all proven committed within
//     span of each other, and the first of them at most span before the
//     window began: the old leader's last acknowledgements before it
//     stopped or lost leadership, which the new leader had not yet heard
//     of from a fetch response; or (restartExcused) the window follows
//     an earlier kill -9 that had healed before it began, and the first
//     of them was proven committed at most checkpoint+span before that
//     kill: the new leader is the restarted replica, whose high watermark
//     is the one it checkpointed before it died, and which rejoined the ISR by a fetch
//     whose answer (the first to carry a newer high watermark) the leader
//     that took it back never sent, because that leader died in this
//     window; and
//   - nothing new was proven committed after the first lagging read of its
//     episode returned: a new leader acknowledges nothing until it has
//     caught up, so lag that grows along with the acknowledgements
//     (KAFKA.md's planted stale read, a constant lag) is no leader change.
//
// A lagging read that fails this stays strict and opens no episode. The
// model still requires an excused read's high watermark to be at most
// the log's length and its records to be in the log below that high
// watermark, so lost or moved records are judged as before.
func excuseStaleReads(h *history.History, ops []porcupine.Operation, ev map[history.TopicPartition]*hwEvidence, grace, span, checkpoint time.Duration) []*staleEpisode {
	ws := staleWindows(h, grace)
	restart := checkpoint + span
	if len(ws) == 0 {
		return nil
	}
	reads := map[history.TopicPartition][]porcupine.Operation{}
	for _, op := range ops {
		in, out := op.Input.(*linInput), op.Output.(*linOutput)
		if in.kind != linSend && out.hw >= 0 {
			reads[in.tp] = append(reads[in.tp], op)
		}
	}
	var eps []*staleEpisode
	for tp, rs := range reads {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Call < rs[j].Call })
		var ep *staleEpisode
		for _, op := range rs {
			in, out := op.Input.(*linInput), op.Output.(*linOutput)
			known, proof, ok := ev[tp].at(op.Call)
			if !ok || out.hw >= known {
				ep = nil // a fresh read: the leader has caught up
				continue
			}
			if ep != nil && op.Call > ep.window.end {
				ep = nil
			}
			first, _ := ev[tp].provenAt(out.hw)
			last, _ := ev[tp].provenAt(known - 1)
			if ep != nil {
				// The leader changed before the episode's first read
				// returned; nothing committed since.
				if last <= ep.first.Return && (lagExcused(ep.window, first, last, span) || restartExcused(ws, ep.window, first, restart)) {
					in.relaxed = true
					ep.add(op, out.hw, known, proof)
				}
				continue
			}
			for _, w := range ws {
				if w.start > op.Return {
					break
				}
				if op.Call <= w.end && (lagExcused(w, first, last, span) || restartExcused(ws, w, first, restart)) {
					in.relaxed = true
					ep = &staleEpisode{tp: tp, window: w}
					ep.add(op, out.hw, known, proof)
					eps = append(eps, ep)
					break
				}
			}
		}
	}
	return eps
}

// lagExcused: the offsets a read missed were first proven committed
// between first and last; they must be the last acknowledgements before
// the old leader stopped, at or after the window began: within span of
// each other and not earlier than span before the window.
func lagExcused(w staleWindow, first, last int64, span time.Duration) bool {
	return last-first <= int64(span) && first >= max(last, w.start)-int64(span)
}

// restartExcused: the window w follows a kill -9 window r that began
// before it and had healed (its nodes restarted) by the time w began, and
// the missed offsets were first proven committed no earlier than allowance
// before r began. A replica restarted after kill -9 reloads the high
// watermark it last checkpointed: at most one checkpoint interval old
// (Linearizability.StaleHWCheckpoint: 100 ms on the reference broker, 5 s
// on Kafka, replica.high.watermark.checkpoint.interval.ms) and itself up
// to a fetch round behind the leader (span), so allowance is their sum.
// It rejoins the ISR once a fetch reaches the leader's high watermark, and
// learns that high watermark only from the answer to that fetch. When the
// leader that took it back dies before answering (a follower fetch with
// no new records waits replica.fetch.wait.max.ms at the leader), the
// restarted replica can be elected from the ISR with its checkpointed
// high watermark, which may trail every acknowledgement made while it was
// down (Kafka alike: a follower's high watermark is only ever the
// leader's from a fetch answer, and Partition.makeLeader starts from it).
// Nothing is lost: the new leader's log holds every committed record (it
// joined the ISR with them) and its high watermark catches up once a
// follower fetches. A single window, even a long rolling restart, is
// never excused this way: the leader change must come in a later window.
func restartExcused(ws []staleWindow, w staleWindow, first int64, allowance time.Duration) bool {
	for _, r := range ws {
		if r.start >= w.start {
			break
		}
		if r.killed && r.stop >= 0 && r.stop <= w.start && first >= r.start-int64(allowance) {
			return true
		}
	}
	return false
}

// staleFindings reports each episode of excused lagging reads (one
// partition, one leader change) with its span, how many reads and how far
// behind, in time order.
func staleFindings(eps []*staleEpisode) []Anomaly {
	sort.SliceStable(eps, func(i, j int) bool { return eps[i].first.Call < eps[j].first.Call })
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
