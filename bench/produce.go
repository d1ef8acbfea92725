package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// payloadVariants is how many distinct record values a run cycles through,
// so compression sees varied (but reproducible) data.
const payloadVariants = 16

// progressInterval is how often the plain progress lines come.
const progressInterval = 5 * time.Second

// ErrStalled means a phase made no progress for the workload's IdleTimeout.
var ErrStalled = errors.New("bench: no progress")

// Payloads returns n reproducible values of size bytes each, random capital
// letters like kafka-producer-perf-test's.
func Payloads(seed uint64, n, size int) [][]byte {
	r := rand.New(rand.NewPCG(seed, 0x68696768))
	out := make([][]byte, n)
	for i := range out {
		v := make([]byte, size)
		for j := range v {
			v[j] = byte('A' + r.IntN(26))
		}
		out[i] = v
	}
	return out
}

// Produce runs the producer side of w against bootstrap, writing to topic
// (which must exist or be auto-created). rp, when not nil, is shown the
// phase's progress. The context bounds the whole phase.
func Produce(ctx context.Context, bootstrap, topic string, w Workload, rp RunProgress) (ProduceResult, error) {
	if err := w.Validate(); err != nil {
		return ProduceResult{}, err
	}
	payloads := Payloads(w.Seed, payloadVariants, w.RecordBytes)
	clients := make([]*kgo.Client, w.Producers)
	wire := newProduceCounter()
	for i := range clients {
		cl, err := kgo.NewClient(append(w.producerOpts(bootstrap), kgo.WithHooks(wire))...)
		if err != nil {
			for _, c := range clients[:i] {
				c.Close()
			}
			return ProduceResult{}, fmt.Errorf("bench: producer client: %w", err)
		}
		clients[i] = cl
	}
	// Connect before the clock starts, so the first records do not measure
	// connection set-up (the warm-up would hide it, but short runs have
	// none).
	for _, cl := range clients {
		if err := cl.Ping(ctx); err != nil {
			for _, c := range clients {
				c.Close()
			}
			return ProduceResult{}, fmt.Errorf("bench: reach %s: %w", bootstrap, err)
		}
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()

	start := time.Now()
	rec := NewRecorder(start, w.Warmup)
	promise := func(r *kgo.Record, err error) {
		rec.Ack(r.Timestamp, time.Now(), len(r.Value), err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	phase := phaseOf(rp, "produce")
	defer phase.Done()
	stopProgress := watchProgress(runCtx, start, rec, w, phase, cancel)

	var wg sync.WaitGroup
	for i, cl := range clients {
		plan := producerPlan(w, i, start)
		wg.Go(func() {
			sendAll(runCtx, cl, topic, plan, payloads, promise)
			// Flush waits for every buffered record's promise. After a
			// cancel it returns early; Close then fails what is still
			// buffered, after the result was taken, and the run reports
			// the cancel instead.
			_ = cl.Flush(runCtx)
		})
	}
	wg.Wait()
	stalled := stopProgress()
	res := rec.Result()
	res.TargetRate = w.RatePerSec
	res.Wire = wire.stats()
	switch {
	case stalled:
		return res, fmt.Errorf("%w: producer acknowledged nothing for %v (%d acked)", ErrStalled, w.IdleTimeout, res.TotalRecords)
	case ctx.Err() != nil:
		return res, ctx.Err()
	}
	return res, nil
}

// plan is one producer's share of the load.
type plan struct {
	records  int64     // upper bound on records; 0 = until deadline
	deadline time.Time // zero = until records are sent
	sched    Schedule  // open loop when sched.Open()
	offset   int       // payload rotation offset
}

// producerPlan splits w over the producers: records and rate evenly (the
// first producers take the remainder), everyone shares start and deadline.
func producerPlan(w Workload, i int, start time.Time) plan {
	p := plan{offset: i}
	n := int64(w.Producers)
	if w.Duration > 0 {
		p.deadline = start.Add(w.Duration)
	} else {
		p.records = w.Records / n
		if int64(i) < w.Records%n {
			p.records++
		}
	}
	if w.RatePerSec > 0 {
		p.sched = NewSchedule(start, w.RatePerSec/float64(n))
		if w.Duration > 0 {
			// An open loop over a duration is a fixed count: what is due
			// strictly before the deadline.
			p.records = p.sched.DueBy(p.deadline.Add(-1))
			p.deadline = time.Time{}
		}
	}
	return p
}

// sendAll hands the plan's records to the client. Closed loop: as fast as
// Produce accepts them (it blocks on a full buffer), each stamped with the
// time it was offered. Open loop: each at its scheduled time, stamped with
// that intended time, and sent late rather than skipped when the client
// falls behind.
func sendAll(ctx context.Context, cl *kgo.Client, topic string, p plan, payloads [][]byte, promise func(*kgo.Record, error)) {
	var i int64
	send := func(ts time.Time) {
		r := &kgo.Record{Topic: topic, Value: payloads[(int(i%payloadVariants)+p.offset)%len(payloads)], Timestamp: ts}
		cl.Produce(ctx, r, promise)
		i++
	}
	if !p.sched.Open() {
		for ctx.Err() == nil && (p.records == 0 || i < p.records) {
			now := time.Now()
			if !p.deadline.IsZero() && !now.Before(p.deadline) {
				return
			}
			send(now)
		}
		return
	}
	for ctx.Err() == nil && i < p.records {
		due := min(p.sched.DueBy(time.Now()), p.records)
		for i < due && ctx.Err() == nil {
			send(p.sched.IntendedAt(i))
		}
		if i >= p.records {
			return
		}
		if wait := time.Until(p.sched.IntendedAt(i)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// progressTick is how often the watcher updates the progress display and
// checks for a stall.
const progressTick = 250 * time.Millisecond

// watchProgress shows the producer's progress and cancels the run when
// nothing was acknowledged for the workload's idle timeout. The returned
// stop function ends the watcher and says whether it cancelled.
func watchProgress(ctx context.Context, start time.Time, rec *Recorder, w Workload, phase PhaseProgress, cancel func()) (stop func() (stalled bool)) {
	done := make(chan struct{})
	var stalled bool
	var wg sync.WaitGroup
	total := w.Records
	if w.Duration > 0 {
		total = 0
		if w.RatePerSec > 0 {
			total = NewSchedule(start, w.RatePerSec).DueBy(start.Add(w.Duration - 1))
		}
	}
	wg.Go(func() {
		tick := time.NewTicker(progressTick)
		defer tick.Stop()
		last, lastChange := int64(0), time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-tick.C:
				n, bytes := rec.Progress()
				if n != last {
					last, lastChange = n, now
				} else if now.Sub(lastChange) >= w.IdleTimeout {
					stalled = true
					cancel()
					return
				}
				phase.Update(PhaseState{Records: n, Bytes: bytes, Total: total, Elapsed: now.Sub(start), Duration: w.Duration})
			}
		}
	})
	return func() bool {
		close(done)
		wg.Wait()
		return stalled
	}
}
