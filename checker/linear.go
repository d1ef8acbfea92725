package checker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/highwater-io/highwater/history"
)

// DefaultLinearizabilityTimeout bounds a porcupine check when
// Linearizability.Timeout is zero (etcd's robustness tests use the same).
const DefaultLinearizabilityTimeout = 5 * time.Minute

// DefaultMaxChunkOperations is Linearizability.MaxChunkOperations' default.
const DefaultMaxChunkOperations = 100_000

// Linearizability checks each partition's sends, explicit-offset fetches
// and list-offsets answers against a sequential append-only log (see
// doc.go). Polls are not modelled: they depend on consumer positions.
type Linearizability struct {
	// OutDir receives linearizability/<topic>-<partition>.html for each
	// partition with no legal order; empty writes nothing.
	OutDir string
	// Timeout bounds the whole check; past it the verdict is Unknown.
	Timeout time.Duration
	// MaxChunkOperations bounds the operations porcupine checks at once
	// (its memory grows with their square: ~1.2 GiB at 100,000); a longer
	// stretch of a partition with no quiescent point is not checked and
	// makes the verdict Unknown. Zero means DefaultMaxChunkOperations.
	MaxChunkOperations int
	// IgnoreHighWatermark drops the requirement that the high watermark a
	// fetch or list-offsets returned equals the log's length at the
	// operation's linearization point.
	IgnoreHighWatermark bool
	// StrictHighWatermark holds every read's high watermark to the log's
	// length, even during and right after faults: Kafka's documented
	// high-watermark lag after a leader change (doc.go) is then
	// not-linearizable instead of a stale-high-watermark-after-failover
	// finding.
	StrictHighWatermark bool
	// StaleHWGrace and StaleHWSpan bound which reads may report a lagging
	// high watermark (stalehw.go): how long after a fault window, and how
	// far apart (and before the window) the acknowledgements a lagging
	// read missed may lie. Zero means DefaultStaleHWGrace,
	// DefaultStaleHWSpan.
	StaleHWGrace time.Duration
	StaleHWSpan  time.Duration
	// StaleHWCheckpoint is how old the high-watermark checkpoint of a
	// replica killed with -9 may be: its brokers' checkpoint interval
	// (Kafka's replica.high.watermark.checkpoint.interval.ms). A replica
	// restarted from it and elected after a later failover may report a
	// high watermark missing acknowledgements up to StaleHWCheckpoint +
	// StaleHWSpan older than the kill (stalehw.go restartExcused). Zero
	// means what the history's header records (history.ParamHWCheckpoint,
	// set by the harness from the cluster it ran), else
	// DefaultStaleHWCheckpoint (the reference broker's).
	StaleHWCheckpoint time.Duration

	slotTarget int // tests: chunk size aimed for when cutting by offsets
}

// Name implements Checker.
func (*Linearizability) Name() string { return "linearizability" }

type linKind uint8

const (
	linSend linKind = iota
	linFetch
	linList
)

// linInput and linOutput are porcupine's operation input and output.
type linInput struct {
	tp     history.TopicPartition
	kind   linKind
	value  string // send
	offset int64  // fetch: the offset asked for
	info   bool   // send: ended info (may land any time after its invoke)
	// relaxed: a read that may report a high watermark below the log's
	// length (during or right after a fault; stalehw.go). It must still
	// not report one above it, and its records must be in the log.
	relaxed bool
	ref     OpRef
}

type linOutput struct {
	known   bool  // send: the acknowledged offset is known
	offset  int64 // send: acknowledged offset
	records []history.Record
	hw      int64 // -1: not reported
}

// linOperations turns the history into porcupine operations. Failed and
// unfinished reads carry no information and are dropped; failed sends had
// no effect. A send that ended info may take effect at any time after its
// invoke, so it returns after everything else.
//
// With acks=1 (the header's "acks" param) an acknowledgement means only that
// the leader wrote the record, not that it is committed: such a send may
// sit above the high watermark for a while or be truncated away, so it is
// modelled like an info send. Lost and moved records are still the queue
// checker's findings.
func linOperations(h *history.History) []porcupine.Operation {
	never := h.EndTime() + 1
	leaderAcks := h.Header.Params["acks"] == "1"
	clients := map[int]int{}
	client := func(p int) int {
		id, ok := clients[p]
		if !ok {
			id = len(clients)
			clients[p] = id
		}
		return id
	}
	var ops []porcupine.Operation
	for i := range h.Ops {
		op := &h.Ops[i]
		ref := refOf(op)
		switch op.F {
		case history.FSend:
			if op.Type() == history.TypeFail {
				continue
			}
			ops = appendSends(ops, op, ref, client(op.Process), never, leaderAcks)
		case history.FFetch:
			f, ok := op.Complete.Fetch()
			if op.Type() != history.TypeOK || !ok {
				continue
			}
			hw := int64(-1)
			if f.HighWatermark != nil {
				hw = *f.HighWatermark
			}
			in := &linInput{tp: f.TopicPartition(), kind: linFetch, offset: f.Offset, ref: ref}
			ops = append(ops, porcupine.Operation{ClientId: client(op.Process),
				Input: in, Output: &linOutput{records: f.Records, hw: hw},
				Call: op.Invoke.Time, Return: op.Complete.Time, Metadata: &in.ref})
		case history.FListOffsets:
			l, ok := op.Complete.ListOffsets()
			if op.Type() != history.TypeOK || !ok || l.HighWatermark == nil {
				continue
			}
			in := &linInput{tp: l.TopicPartition(), kind: linList, ref: ref}
			ops = append(ops, porcupine.Operation{ClientId: client(op.Process),
				Input: in, Output: &linOutput{hw: *l.HighWatermark},
				Call: op.Invoke.Time, Return: op.Complete.Time, Metadata: &in.ref})
		}
	}
	return ops
}

func appendSends(ops []porcupine.Operation, op *history.Op, ref OpRef, client int, never int64, leaderAcks bool) []porcupine.Operation {
	inv, ok := op.Invoke.Send()
	if !ok {
		return ops
	}
	acked := map[string]int64{}
	ret := never
	committed := op.Type() == history.TypeOK && !leaderAcks
	if committed {
		ret = op.Complete.Time
		if done, ok := op.Complete.Send(); ok {
			for _, r := range done.Records {
				if r.Offset != nil {
					acked[r.Value] = *r.Offset
				}
			}
		}
	}
	// Records of one operation share its interval; their offsets, when
	// known, fix their order.
	for _, r := range inv.Records {
		o, known := acked[r.Value]
		in := &linInput{tp: r.TopicPartition(), kind: linSend, value: r.Value, info: !committed, ref: ref}
		ops = append(ops, porcupine.Operation{ClientId: client,
			Input: in, Output: &linOutput{known: known, offset: o, hw: -1},
			Call: op.Invoke.Time, Return: ret, Metadata: &in.ref})
	}
	return ops
}

// model is the sequential specification of one partition: a log whose
// length is the high watermark. ctx makes steps fail fast once the check is
// out of time; Check then reports Unknown instead of the illegal verdict
// such a step produces.
func (c *Linearizability) model(ctx context.Context) porcupine.Model {
	checkHW := !c.IgnoreHighWatermark
	step := func(state, input, output any) (bool, any) {
		if ctx.Err() != nil {
			return false, state
		}
		l, _ := state.(*plog)
		in, out := input.(*linInput), output.(*linOutput)
		switch in.kind {
		case linSend:
			if out.known && out.offset != l.length() {
				return false, state
			}
			return true, l.append(in.value)
		case linFetch:
			if in.relaxed {
				return relaxedFetch(l, in, out), state
			}
			if checkHW && out.hw >= 0 && out.hw != l.length() {
				return false, state
			}
			if len(out.records) == 0 {
				return in.offset >= l.length(), state
			}
			for _, r := range out.records {
				if v, ok := l.at(r.Offset); !ok || v != r.Value {
					return false, state
				}
			}
			return true, state
		default: // linList
			if in.relaxed {
				return out.hw <= l.length(), state
			}
			return !checkHW || out.hw == l.length(), state
		}
	}
	return porcupine.Model{
		Partition: partitionByTopicPartition,
		Init:      func() any { return (*plog)(nil) },
		Step:      step,
		Equal: func(a, b any) bool {
			la, _ := a.(*plog)
			lb, _ := b.(*plog)
			return la.equal(lb)
		},
		Hash: func(s any) uint64 {
			l, _ := s.(*plog)
			return l.hashOf()
		},
		DescribeOperation: describeLinOp,
		DescribeState:     describeLog,
		DescribeOperationMetadata: func(m any) string {
			if r, ok := m.(*OpRef); ok {
				return r.String()
			}
			return ""
		},
	}
}

// relaxedFetch is a fetch that may have been answered from a prefix of the
// log (a leader whose high watermark lags): its high watermark is at most
// the log's length, an empty answer means the offset asked for is at or
// past that high watermark, and every record returned is in the log and
// below the high watermark the answer reported (a consumer is never shown
// records the leader has not committed: serving past the high watermark
// stays a violation, lag or not).
func relaxedFetch(l *plog, in *linInput, out *linOutput) bool {
	if out.hw > l.length() {
		return false
	}
	if len(out.records) == 0 {
		return in.offset >= out.hw
	}
	for _, r := range out.records {
		if r.Offset >= out.hw {
			return false
		}
		if v, ok := l.at(r.Offset); !ok || v != r.Value {
			return false
		}
	}
	return true
}

func partitionByTopicPartition(ops []porcupine.Operation) [][]porcupine.Operation {
	index := map[history.TopicPartition]int{}
	var tps []history.TopicPartition
	var groups [][]porcupine.Operation
	for _, op := range ops {
		tp := op.Input.(*linInput).tp
		i, ok := index[tp]
		if !ok {
			i = len(groups)
			index[tp] = i
			tps = append(tps, tp)
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], op)
	}
	// Deterministic order (topic, partition) so reports are stable.
	order := make([]int, len(groups))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := strings.Compare(tps[a].Topic, tps[b].Topic); c != 0 {
			return c
		}
		return int(tps[a].Partition) - int(tps[b].Partition)
	})
	sorted := make([][]porcupine.Operation, len(groups))
	for i, j := range order {
		sorted[i] = groups[j]
	}
	return sorted
}

func describeLinOp(input, output any) string {
	in, out := input.(*linInput), output.(*linOutput)
	switch in.kind {
	case linSend:
		if out.known {
			return fmt.Sprintf("send(%q) → offset %d", in.value, out.offset)
		}
		return fmt.Sprintf("send(%q) → ?", in.value)
	case linFetch:
		var b strings.Builder
		fmt.Fprintf(&b, "fetch(%d) → [", in.offset)
		for i, r := range out.records {
			if i == 3 {
				fmt.Fprintf(&b, " …%d more", len(out.records)-3)
				break
			}
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%d:%q", r.Offset, r.Value)
		}
		b.WriteString("]")
		if out.hw >= 0 {
			fmt.Fprintf(&b, " hw=%d", out.hw)
		}
		if in.relaxed {
			b.WriteString(" (may lag)")
		}
		return b.String()
	default:
		if in.relaxed {
			return fmt.Sprintf("list-offsets → hw=%d (may lag)", out.hw)
		}
		return fmt.Sprintf("list-offsets → hw=%d", out.hw)
	}
}

func describeLog(state any) string {
	l, _ := state.(*plog)
	var tail []string
	for x := l; x != nil && len(tail) < 4; x = x.prev {
		tail = append(tail, fmt.Sprintf("%d:%q", x.n-1, x.val))
	}
	slices.Reverse(tail)
	prefix := ""
	if l.length() > int64(len(tail)) {
		prefix = "… "
	}
	return fmt.Sprintf("hw=%d [%s%s]", l.length(), prefix, strings.Join(tail, " "))
}

// explain turns porcupine's partial linearizations of one failing
// partition into an anomaly and writes the visualization.
func (c *Linearizability) explain(model porcupine.Model, h *history.History, ch linChunk, info porcupine.LinearizationInfo) Anomaly {
	g := ch.ops
	model = chunkModel(model, ch.init)
	tp := g[0].Input.(*linInput).tp
	a := Anomaly{Type: NotLinearizable, Topic: tp.Topic, Partition: tp.Partition}
	var longest []porcupine.Operation
	for _, part := range info.PartialLinearizationsOperations() {
		for _, lin := range part {
			if len(lin) > len(longest) {
				longest = lin
			}
		}
	}
	// Replay the longest legal prefix to show the state it reached, then
	// name the operation left out that returned first: everything invoked
	// after it returned must follow it, so it is the one the prefix could
	// not get past (the earliest-invoked one is often an innocent send
	// that was merely in flight).
	var state any = ch.init
	in := map[*linInput]bool{}
	for _, op := range longest {
		_, state = model.Step(state, op.Input, op.Output)
		in[op.Input.(*linInput)] = true
	}
	var stuck *porcupine.Operation
	for i := range g {
		if !in[g[i].Input.(*linInput)] && (stuck == nil || g[i].Return < stuck.Return) {
			stuck = &g[i]
		}
	}
	a.Explanation = fmt.Sprintf("%s: the %d operation(s) between %s and %s have no legal order from %s; the longest legal prefix takes %d, reaching %s",
		tp, len(g), seconds(ch.start), seconds(ch.end), describeLog(ch.init), len(longest), describeLog(state))
	if stuck != nil {
		ref := stuck.Input.(*linInput).ref
		a.Ops = append(a.Ops, ref)
		a.Explanation += fmt.Sprintf(", and cannot take %s: %s", ref, describeLinOp(stuck.Input, stuck.Output))
		if in := stuck.Input.(*linInput); in.kind == linSend {
			a.Values = []string{in.value}
		}
	}
	if c.OutDir != "" {
		rel := filepath.Join("linearizability", fileSafe(tp.Topic)+fmt.Sprintf("-%d.html", tp.Partition))
		info.AddAnnotations(faultAnnotations(h))
		if err := writeVisualization(model, info, filepath.Join(c.OutDir, rel)); err != nil {
			a.Explanation += fmt.Sprintf(" (visualization not written: %v)", err)
		} else {
			a.Artifact = rel
		}
	}
	return a
}

func writeVisualization(model porcupine.Model, info porcupine.LinearizationInfo, path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	// porcupine panics when a replay disagrees with its search; a missing
	// picture must not cost the verdict.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("porcupine visualization: %v", r)
		}
	}()
	return porcupine.VisualizePath(model, info, path)
}

func faultAnnotations(h *history.History) []porcupine.Annotation {
	var out []porcupine.Annotation
	for _, w := range h.Faults {
		end := w.StopTime
		if end < 0 {
			end = h.EndTime()
		}
		out = append(out, porcupine.Annotation{Tag: "nemesis", Start: w.StartTime, End: end,
			Description: w.Fault, Details: w.Description, BackgroundColor: "#f6d5d5"})
	}
	return out
}

// fileSafe keeps topic names (already restricted by Kafka to
// [a-zA-Z0-9._-]) from escaping the output directory.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, s)
}
