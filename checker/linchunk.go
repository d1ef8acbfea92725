package checker

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/highwater-io/highwater/history"
)

// Porcupine's cache keeps a bitset of the linearized operations per state
// it visits, so its memory grows with the square of a history's length. Two
// reductions keep partitions short enough to check large runs. The first
// adds evidence porcupine would otherwise not see (what polls observed; a
// correct broker only returns committed records to them), so it can only
// find more; the second preserves the verdict:
//
//  1. Tightening. A send whose value a read observed at offset o took
//     effect at o before that read returned, so an info send's return moves
//     from "after everything" to the earliest such read, and an ok send
//     without a reported offset gets o. An info send nobody observed is
//     dropped when the partition's observed offsets are exactly 0..M-1 and
//     no read reported a high watermark above M: there is no offset it
//     could occupy that anything depends on.
//  2. Chunking. Where no operation of a partition is in flight (every
//     earlier one returned before the next is invoked), every earlier send
//     must precede every later operation, and once all sends have known
//     offsets the log at that cut is forced: the earlier sends in offset
//     order. Each chunk between cuts is checked from that log. If the
//     earlier sends do not form a dense log, an earlier chunk is illegal
//     and later ones are skipped.
//
// A partition with a send of unknown offset left after tightening is
// checked whole.

// linChunk is a stretch of one partition checked on its own.
type linChunk struct {
	tp         history.TopicPartition
	ops        []porcupine.Operation
	init       *plog
	start, end int64 // first invoke, last return (ns)
	skip       bool  // the log at the cut is not forced: an earlier chunk fails
	tooLong    bool  // over MaxChunkOperations: not checked
}

// observation is where reads saw a value and when the first of them
// returned.
type observation struct {
	offset    int64
	minReturn int64
	multi     bool // seen at two offsets: a duplicate, leave it to porcupine
}

type partObservations struct {
	values map[string]*observation
	maxHW  int64
}

func observe(h *history.History) map[history.TopicPartition]*partObservations {
	out := map[history.TopicPartition]*partObservations{}
	get := func(tp history.TopicPartition) *partObservations {
		p := out[tp]
		if p == nil {
			p = &partObservations{values: map[string]*observation{}, maxHW: -1}
			out[tp] = p
		}
		return p
	}
	add := func(tp history.TopicPartition, rs []history.Record, ret int64) {
		p := get(tp)
		for _, r := range rs {
			o := p.values[r.Value]
			switch {
			case o == nil:
				p.values[r.Value] = &observation{offset: r.Offset, minReturn: ret}
			case o.offset != r.Offset:
				o.multi = true
			default:
				o.minReturn = min(o.minReturn, ret)
			}
		}
	}
	for i := range h.Ops {
		op := &h.Ops[i]
		if op.Type() != history.TypeOK {
			continue
		}
		if p, ok := op.Complete.Poll(); ok {
			for _, pr := range p.Partitions {
				add(pr.TopicPartition(), pr.Records, op.Complete.Time)
			}
		}
		if f, ok := op.Complete.Fetch(); ok {
			add(f.TopicPartition(), f.Records, op.Complete.Time)
			if f.HighWatermark != nil {
				get(f.TopicPartition()).maxHW = max(get(f.TopicPartition()).maxHW, *f.HighWatermark)
			}
		}
		if l, ok := op.Complete.ListOffsets(); ok && l.HighWatermark != nil {
			get(l.TopicPartition()).maxHW = max(get(l.TopicPartition()).maxHW, *l.HighWatermark)
		}
	}
	return out
}

// tighten applies reduction 1 to one partition's operations and reports
// whether every remaining send has a known offset.
func tighten(g []porcupine.Operation, obs *partObservations) ([]porcupine.Operation, bool) {
	if obs == nil {
		obs = &partObservations{values: map[string]*observation{}, maxHW: -1}
	}
	offsets := map[int64]bool{}
	for _, o := range obs.values {
		offsets[o.offset] = true
	}
	for _, op := range g {
		if out := op.Output.(*linOutput); out.known {
			offsets[out.offset] = true
		}
	}
	dense := obs.maxHW <= int64(len(offsets))
	for o := range offsets {
		if o < 0 || o >= int64(len(offsets)) {
			dense = false
			break
		}
	}
	kept := g[:0:0]
	allKnown := true
	for _, op := range g {
		in, out := op.Input.(*linInput), op.Output.(*linOutput)
		if in.kind != linSend || out.known {
			kept = append(kept, op)
			continue
		}
		o := obs.values[in.value]
		switch {
		case o != nil && !o.multi:
			op.Output = &linOutput{known: true, offset: o.offset, hw: -1}
			if in.info {
				op.Return = max(op.Call, o.minReturn)
			}
		case o == nil && in.info && dense:
			continue
		default:
			allKnown = false
		}
		kept = append(kept, op)
	}
	return kept, allKnown
}

// split applies reduction 2 to one partition's (tightened) operations.
func split(tp history.TopicPartition, g []porcupine.Operation, chunkable bool) []linChunk {
	sort.SliceStable(g, func(i, j int) bool { return g[i].Call < g[j].Call })
	if !chunkable || len(g) == 0 {
		return []linChunk{span(tp, g, nil)}
	}
	var chunks []linChunk
	var log *plog
	pending := map[int64]string{} // sends of earlier chunks not yet in log
	broken := false
	begin, maxRet := 0, g[0].Return
	flush := func(end int) {
		ch := span(tp, g[begin:end], log)
		ch.skip = broken
		chunks = append(chunks, ch)
		for _, op := range g[begin:end] {
			if in := op.Input.(*linInput); in.kind == linSend {
				off := op.Output.(*linOutput).offset
				if _, dup := pending[off]; dup || off < log.length() {
					broken = true
				}
				pending[off] = in.value
			}
		}
		for v, ok := pending[log.length()]; ok; v, ok = pending[log.length()] {
			delete(pending, log.length())
			log = log.append(v)
		}
		if len(pending) > 0 {
			broken = true
		}
		begin = end
	}
	for i := 1; i < len(g); i++ {
		if g[i].Call > maxRet {
			flush(i)
		}
		maxRet = max(maxRet, g[i].Return)
	}
	flush(len(g))
	return chunks
}

func span(tp history.TopicPartition, ops []porcupine.Operation, init *plog) linChunk {
	ch := linChunk{tp: tp, ops: ops, init: init}
	for i, op := range ops {
		if i == 0 || op.Call < ch.start {
			ch.start = op.Call
		}
		ch.end = max(ch.end, op.Return)
	}
	return ch
}

// hwCheckpoint is the restart allowance's checkpoint age: the option, else
// the history header's (the cluster the run used), else the reference
// broker's. A header value that does not parse as a positive duration is
// ignored (bad input never panics, and the default is the stricter one).
func (c *Linearizability) hwCheckpoint(h *history.History) time.Duration {
	if c.StaleHWCheckpoint > 0 {
		return c.StaleHWCheckpoint
	}
	if v, ok := h.Header.Params[history.ParamHWCheckpoint]; ok {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
	}
	return DefaultStaleHWCheckpoint
}

func (c *Linearizability) maxChunk() int {
	if c.MaxChunkOperations > 0 {
		return c.MaxChunkOperations
	}
	return DefaultMaxChunkOperations
}

// chunkModel is model checking one chunk from its forced starting log.
func chunkModel(model porcupine.Model, init *plog) porcupine.Model {
	model.Partition = nil
	model.Init = func() any { return init }
	return model
}

// Check implements Checker.
func (c *Linearizability) Check(ctx context.Context, h *history.History) Result {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultLinearizabilityTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ops := linOperations(h)
	if len(ops) == 0 {
		return Result{Valid: Unknown, Reason: "no send, fetch or list-offsets operations to check"}
	}
	var episodes []*staleEpisode
	relaxing := !c.StrictHighWatermark && !c.IgnoreHighWatermark
	if relaxing {
		episodes = excuseStaleReads(h, ops, hwEvidenceOf(ops), cmp.Or(c.StaleHWGrace, DefaultStaleHWGrace), cmp.Or(c.StaleHWSpan, DefaultStaleHWSpan), c.hwCheckpoint(h))
	}
	model := c.model(ctx)
	obs := observe(h)
	var chunks []linChunk
	groups := model.Partition(ops)
	stats := map[string]int64{"operations": int64(len(ops)), "partitions": int64(len(groups))}
	ops = nil // the groups and then the chunks hold the operations
	for i, g := range groups {
		groups[i] = nil
		tp := g[0].Input.(*linInput).tp
		g, known := tighten(g, obs[tp])
		target := slotTargetOperations
		if c.slotTarget > 0 {
			target = c.slotTarget
		}
		if byOffset, ok := slotSplit(tp, g, target); ok && known && !c.IgnoreHighWatermark {
			chunks = append(chunks, byOffset...)
			continue
		}
		chunks = append(chunks, split(tp, g, known)...)
	}
	stats["chunks"] = int64(len(chunks))
	obs = nil
	legal := c.runChunks(ctx, model, chunks)
	if err := ctx.Err(); err != nil {
		return Result{Valid: Unknown, Reason: fmt.Sprintf("porcupine did not finish within %s: %v", timeout, err), Stats: stats}
	}
	var out collector
	reported := map[history.TopicPartition]bool{}
	skipped := 0
	tooLong := ""
	for i, ch := range chunks {
		switch {
		case ch.tooLong:
			tooLong = fmt.Sprintf("%s has %d operations between %s and %s with none quiescent, over MaxChunkOperations %d",
				ch.tp, len(ch.ops), seconds(ch.start), seconds(ch.end), c.maxChunk())
		case ch.skip:
			skipped++
		case !legal[i] && !reported[ch.tp]:
			reported[ch.tp] = true
			_, info := porcupine.CheckOperationsVerbose(chunkModel(model, ch.init), ch.ops, 0)
			if ctx.Err() != nil {
				return Result{Valid: Invalid, Reason: "ran out of time explaining the failure", Counts: out.counts, Anomalies: out.anomalies, Stats: stats}
			}
			out.add(c.explain(model, h, ch, info))
		}
	}
	var findings []Anomaly
	if relaxing {
		findings = staleFindings(episodes)
		stats["stale_hw_episodes"] = int64(len(findings))
	}
	switch {
	case len(out.anomalies) > 0:
		return Result{Valid: Invalid, Counts: out.counts, Anomalies: out.anomalies, Findings: findings, Stats: stats}
	case tooLong != "":
		return Result{Valid: Unknown, Reason: tooLong, Stats: stats}
	case skipped > 0:
		// Cannot happen when the reductions are sound; never guess valid.
		return Result{Valid: Unknown, Reason: fmt.Sprintf("%d chunks had no forced starting log yet every chunk checked was legal", skipped), Stats: stats}
	}
	return Result{Valid: Valid, Findings: findings, Stats: stats}
}

// runChunks checks chunks on GOMAXPROCS workers so that at most that many
// porcupine searches hold memory at once.
func (c *Linearizability) runChunks(ctx context.Context, model porcupine.Model, chunks []linChunk) []bool {
	legal := make([]bool, len(chunks))
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ch := chunks[i]
				if ch.skip || ctx.Err() != nil {
					continue
				}
				if len(ch.ops) > c.maxChunk() {
					chunks[i].tooLong = true
					continue
				}
				legal[i] = porcupine.CheckOperations(chunkModel(model, ch.init), ch.ops)
			}
		}()
	}
	for i := range chunks {
		next <- i
	}
	close(next)
	wg.Wait()
	return legal
}
