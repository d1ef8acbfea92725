package checker

import (
	"sort"

	"github.com/anishathalye/porcupine"

	"github.com/highwater-io/highwater/history"
)

// Offset-slot chunking: when every send of a partition has a known offset
// and every read reports its high watermark (the default, strict mode),
// the log fixes the order of all operations up to reads of equal high
// watermark: a read that returned hw h sits after the send at offset h-1
// and before the send at h. So the partition can be cut before the send at
// any offset k into A (sends below k, reads with hw ≤ k) and B (the rest):
// every legal order puts all of A first, A must end in the log of its
// sends, and concatenating A's and B's orders respects real time exactly
// when no operation of B returned before an operation of A was invoked
// (max call of A ≤ min return of B). Cuts are made only where that holds;
// where it fails the violation stays inside one chunk for porcupine to
// find and explain. Unlike quiescent cuts this works however many clients
// overlap, keeping each porcupine search small.

// slotTargetOperations is how many operations a slot chunk aims for: small
// enough for porcupine's quadratic cache, large enough that chunks are few.
const slotTargetOperations = 500

// slotPos is an operation's place in the order the log forces: reads with
// hw h at 2h, the send at offset o at 2o+1.
func slotPos(op porcupine.Operation) (int64, bool) {
	in, out := op.Input.(*linInput), op.Output.(*linOutput)
	switch {
	case in.kind == linSend && out.known && out.offset >= 0:
		return 2*out.offset + 1, true
	case in.kind != linSend && out.hw >= 0 && in.relaxed:
		// A lagging read may sit anywhere after the send at hw-1; placing
		// it after the last record it returned as well keeps the cut sound:
		// a read is moved to the end of its chunk, whose log then holds
		// every record it returned and at least hw of them.
		slot := out.hw
		for _, r := range out.records {
			slot = max(slot, r.Offset+1)
		}
		return 2 * slot, true
	case in.kind != linSend && out.hw >= 0:
		return 2 * out.hw, true
	}
	return 0, false
}

// slotSplit cuts one partition by offsets, or reports false when some
// operation has no slot or the sends' offsets are not exactly 0..n-1 (then
// the caller falls back to quiescent cuts and porcupine sees the problem).
func slotSplit(tp history.TopicPartition, g []porcupine.Operation, target int) ([]linChunk, bool) {
	type slotted struct {
		op  porcupine.Operation
		pos int64
	}
	ops := make([]slotted, len(g))
	for i, op := range g {
		pos, ok := slotPos(op)
		if !ok {
			return nil, false
		}
		ops[i] = slotted{op, pos}
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].pos < ops[j].pos })
	next := int64(0)
	for _, s := range ops {
		if s.pos%2 == 1 {
			if s.pos/2 != next {
				return nil, false
			}
			next++
		}
	}
	// A cut before index i is sound when every call before it is no later
	// than every return from it on.
	n := len(ops)
	suffixMinRet := make([]int64, n+1)
	suffixMinRet[n] = int64(^uint64(0) >> 1)
	for i := n - 1; i >= 0; i-- {
		suffixMinRet[i] = min(suffixMinRet[i+1], ops[i].op.Return)
	}
	var chunks []linChunk
	var log *plog
	begin := 0
	maxCall := int64(-1 << 63)
	flush := func(end int) {
		chunk := make([]porcupine.Operation, 0, end-begin)
		for _, s := range ops[begin:end] {
			chunk = append(chunk, s.op)
		}
		chunks = append(chunks, span(tp, chunk, log))
		for _, s := range ops[begin:end] {
			if s.pos%2 == 1 {
				log = log.append(s.op.Input.(*linInput).value)
			}
		}
		begin = end
	}
	for i, s := range ops {
		if i > begin && i-begin >= target && s.pos%2 == 1 && ops[i-1].pos < s.pos && maxCall <= suffixMinRet[i] {
			flush(i)
		}
		maxCall = max(maxCall, s.op.Call)
	}
	flush(n)
	return chunks, true
}
