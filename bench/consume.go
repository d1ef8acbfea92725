package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ConsumeResult is one consumer run's outcome, timed from the client's
// creation to the last record wanted.
type ConsumeResult struct {
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"recordsPerSec"`
	MBPerSec      float64 `json:"mbPerSec"`
	// FirstRecordMs is the time to the first record (metadata, first fetch).
	FirstRecordMs float64 `json:"firstRecordMs"`
	// Wire counts the fetch responses read.
	Wire WireStats `json:"wire"`
	// EndToEnd is produce-to-consume latency, measured only when the
	// consumer ran alongside the producer (Workload.EndToEnd).
	EndToEnd LatencySummary `json:"endToEnd"`
	// EndToEndHist holds the end-to-end latencies for merging and
	// plotting; nil when not measured.
	EndToEndHist *LatencyHist `json:"-"`
	// Group is the consumer group the members shared, empty for the
	// single group-less reader; Members is how many distinct records each
	// member contributed (a record re-delivered after a rebalance counts
	// once, for the member that read it first).
	Group   string  `json:"group,omitempty"`
	Members []int64 `json:"members,omitempty"`
	// JoinMs is how long the group took until every partition was
	// assigned (the broker's initial rebalance delay included). For a
	// group, Seconds and the rates run from then, as
	// kafka-consumer-perf-test's fetch rates leave the rebalance out.
	JoinMs float64 `json:"joinMs,omitempty"`
}

// consumeRate fills the rates from the counts and the elapsed time.
func consumeRate(records, bytes int64, elapsed, first time.Duration) ConsumeResult {
	res := ConsumeResult{Records: records, Bytes: bytes, FirstRecordMs: float64(first) / float64(time.Millisecond)}
	if secs := elapsed.Seconds(); secs > 0 {
		res.Seconds = secs
		res.RecordsPerSec = float64(records) / secs
		res.MBPerSec = float64(bytes) / bytesPerMB / secs
	}
	return res
}

// withWire attaches the fetch counts to a result.
func withWire(r ConsumeResult, c *wireCounter) ConsumeResult {
	r.Wire = c.stats()
	return r
}

// Consume reads topic from its start, without a group, until it has seen
// want records. It fails with ErrStalled when no record arrives for idle.
func Consume(ctx context.Context, bootstrap, topic string, want int64, idle time.Duration) (ConsumeResult, error) {
	if want < 0 {
		return ConsumeResult{}, fmt.Errorf("%w: consume want %d", ErrBadWorkload, want)
	}
	return consume(ctx, consumeSpec{bootstrap: bootstrap, topic: topic, want: knownWant(want), idle: idle})
}

// ConsumeGroup is Consume by a consumer group of members clients, which
// split the partitions between them; the result counts distinct records
// over all members.
// partitions is the topic's partition count: the rates run from when the
// members hold them all.
func ConsumeGroup(ctx context.Context, bootstrap, topic, group string, members int, partitions int32, want int64, idle time.Duration) (ConsumeResult, error) {
	if want < 0 || members < 1 || group == "" || partitions < 1 {
		return ConsumeResult{}, fmt.Errorf("%w: consume want %d, %d members, group %q, %d partitions", ErrBadWorkload, want, members, group, partitions)
	}
	return consume(ctx, consumeSpec{bootstrap: bootstrap, topic: topic, group: group, members: members, partitions: partitions, want: knownWant(want), idle: idle})
}

func knownWant(n int64) func() (int64, bool) { return func() (int64, bool) { return n, true } }

// consumeSpec is one consume phase.
type consumeSpec struct {
	bootstrap, topic string
	// group is empty for the single group-less reader; otherwise members
	// clients join it.
	group   string
	members int
	// want is the record count to read, which may become known only later
	// (false until then: a consumer alongside the producer).
	want func() (int64, bool)
	idle time.Duration
	// e2eSince, when not zero, makes every record timestamped at or after
	// it add receive time minus record timestamp to the end-to-end
	// histogram. Record timestamps travel in milliseconds, so each sample
	// may read up to 1 ms long.
	e2eSince time.Time
	phase    PhaseProgress
	// partitions is the topic's partition count; a group is ready once
	// its members hold that many.
	partitions int32
	// ready, when not nil, is closed once the consumers can read every
	// partition (at once for the single reader, after the group's first
	// complete assignment otherwise), so an end-to-end producer does not
	// start while the group is still joining.
	ready chan struct{}
}

// tally counts what all members of a consume phase read. Records are
// counted per partition by offset, so that a record a second member reads
// again after a rebalance is not counted twice.
type tally struct {
	start    time.Time
	e2eSince time.Time
	want     func() (int64, bool)
	finish   context.CancelFunc

	records, bytes atomic.Int64
	lastProgress   atomic.Int64 // unix nanoseconds

	mu       sync.Mutex
	assigned int32 // partitions the members hold
	readyAt  time.Time
	ready    chan struct{}
	next     map[int32]int64
	members  []int64
	first    time.Duration
	doneAt   time.Time
	e2e      *LatencyHist
	lastErr  error
}

// add counts one fetched partition for member, and ends the phase when the
// wanted count is reached.
func (t *tally) add(member int, p kgo.FetchTopicPartition, now time.Time) {
	if len(p.Records) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	next := t.next[p.Partition]
	var n, b int64
	for _, r := range p.Records {
		if r.Offset < next {
			continue
		}
		next = r.Offset + 1
		n++
		b += int64(len(r.Value) + len(r.Key))
		if !t.e2eSince.IsZero() && !r.Timestamp.Before(t.e2eSince) {
			t.e2e.Record(now.Sub(r.Timestamp))
		}
	}
	t.next[p.Partition] = next
	if n == 0 {
		return
	}
	if t.records.Load() == 0 {
		t.first = now.Sub(t.start)
	}
	t.members[member] += n
	t.bytes.Add(b)
	t.lastProgress.Store(now.UnixNano())
	t.complete(t.records.Add(n), now)
}

// complete ends the phase at now if records is all that is wanted. Called
// with mu held.
func (t *tally) complete(records int64, now time.Time) bool {
	want, known := t.want()
	if !known || records < want {
		return false
	}
	if t.doneAt.IsZero() {
		t.doneAt = now
		t.finish()
	}
	return true
}

// assign notes partitions assigned (n > 0) or taken away (n < 0) and
// marks the group ready once all partitions are held.
func (t *tally) assign(n, partitions int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.assigned += n
	if t.assigned >= partitions && t.readyAt.IsZero() {
		t.markReady(time.Now())
	}
}

// markReady is called with mu held, once.
func (t *tally) markReady(now time.Time) {
	t.readyAt = now
	if t.ready != nil {
		close(t.ready)
	}
}

func (t *tally) noteErr(err error) {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return
	}
	t.mu.Lock()
	t.lastErr = err
	t.mu.Unlock()
}

// consume runs one consume phase: the members poll on their own
// goroutines, this one watches for completion, stalls and progress.
func consume(ctx context.Context, spec consumeSpec) (ConsumeResult, error) {
	if spec.idle <= 0 {
		return ConsumeResult{}, fmt.Errorf("%w: consume idle %v", ErrBadWorkload, spec.idle)
	}
	if spec.phase == nil {
		spec.phase = nopPhase{}
	}
	members := max(spec.members, 1)
	runCtx, finish := context.WithCancel(ctx)
	defer finish()
	t := &tally{start: time.Now(), e2eSince: spec.e2eSince, want: spec.want, finish: finish,
		next: map[int32]int64{}, members: make([]int64, members), e2e: NewLatencyHist(), ready: spec.ready}
	t.lastProgress.Store(t.start.UnixNano())
	wire := newFetchCounter()
	clients := make([]*kgo.Client, members)
	for i := range clients {
		opts := []kgo.Opt{
			kgo.WithHooks(wire),
			kgo.SeedBrokers(seedList(spec.bootstrap)...),
			kgo.ClientID("highwater-bench"),
			kgo.ConsumeTopics(spec.topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		}
		if spec.group != "" {
			count := func(sign int32) func(context.Context, *kgo.Client, map[string][]int32) {
				return func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
					t.assign(sign*int32(len(m[spec.topic])), spec.partitions)
				}
			}
			opts = append(opts, kgo.ConsumerGroup(spec.group), kgo.OnPartitionsAssigned(count(1)),
				kgo.OnPartitionsRevoked(count(-1)), kgo.OnPartitionsLost(count(-1)))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			closeAll(clients[:i])
			return ConsumeResult{}, fmt.Errorf("bench: consumer client: %w", err)
		}
		clients[i] = cl
	}
	defer closeAll(clients)
	if spec.group == "" {
		t.mu.Lock()
		t.markReady(t.start)
		t.mu.Unlock()
	}
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Go(func() {
			for runCtx.Err() == nil {
				fs := cl.PollFetches(runCtx)
				now := time.Now()
				fs.EachError(func(_ string, _ int32, err error) { t.noteErr(err) })
				fs.EachPartition(func(p kgo.FetchTopicPartition) { t.add(i, p, now) })
			}
		})
	}
	err := t.watch(runCtx, ctx, spec)
	finish()
	wg.Wait()
	res := t.result(wire)
	if spec.group != "" {
		res.Group = spec.group
		t.mu.Lock()
		res.Members = append([]int64(nil), t.members...)
		t.mu.Unlock()
	}
	return res, err
}

// watch waits for the phase to end, updating the progress display, and
// says why it ended when not complete.
func (t *tally) watch(runCtx, ctx context.Context, spec consumeSpec) error {
	tick := time.NewTicker(consumeTick)
	defer tick.Stop()
	for {
		select {
		case <-runCtx.Done():
		case now := <-tick.C:
			t.mu.Lock()
			done := t.complete(t.records.Load(), now)
			t.mu.Unlock()
			want, known := spec.want()
			total := int64(0)
			if known {
				total = want
			}
			n := t.records.Load()
			spec.phase.Update(PhaseState{Records: n, Bytes: t.bytes.Load(), Total: total, Elapsed: now.Sub(t.start)})
			if done {
				continue // runCtx is done now
			}
			if idleFor := now.Sub(time.Unix(0, t.lastProgress.Load())); idleFor >= spec.idle {
				t.mu.Lock()
				lastErr := t.lastErr
				t.mu.Unlock()
				return fmt.Errorf("%w: consumed %d records (want %d, known %v), nothing for %v (last fetch error: %v)",
					ErrStalled, n, want, known, spec.idle, lastErr)
			}
			continue
		}
		t.mu.Lock()
		complete := !t.doneAt.IsZero()
		t.mu.Unlock()
		if !complete {
			return ctx.Err()
		}
		return nil
	}
}

// result reduces the tally, timed to completion (or to now when the phase
// did not complete).
func (t *tally) result(wire *wireCounter) ConsumeResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	end := t.doneAt
	if end.IsZero() {
		end = time.Now()
	}
	from := t.start
	if !t.readyAt.IsZero() {
		from = t.readyAt
	}
	r := withWire(consumeRate(t.records.Load(), t.bytes.Load(), end.Sub(from), t.first), wire)
	if from.After(t.start) {
		r.JoinMs = float64(from.Sub(t.start)) / float64(time.Millisecond)
	}
	if t.e2e.Count() > 0 {
		r.EndToEnd, r.EndToEndHist = t.e2e.Summary(), t.e2e
	}
	return r
}

// closeAll closes clients in parallel: group members leaving one after
// another would each wait out a rebalance.
func closeAll(clients []*kgo.Client) {
	var wg sync.WaitGroup
	for _, cl := range clients {
		if cl != nil {
			wg.Go(cl.Close)
		}
	}
	wg.Wait()
}

// consumeTick is how often a consume phase checks for completion (when the
// wanted count becomes known late), stalls and progress.
const consumeTick = 100 * time.Millisecond
