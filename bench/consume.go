package bench

import (
	"context"
	"errors"
	"fmt"
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
	return consume(ctx, bootstrap, topic, func() (int64, bool) { return want, true }, idle, time.Time{})
}

// wantPoll bounds each poll while the record count is not known yet, so the
// consumer notices soon after the producer finishes.
const wantPoll = 100 * time.Millisecond

// consume is Consume with a record count that may become known only later
// (want reports false until then: a consumer alongside the producer). When
// e2eSince is not zero, every record timestamped at or after it adds
// receive time minus record timestamp to the end-to-end histogram. Record
// timestamps travel in milliseconds, so each sample may read up to 1 ms
// long.
func consume(ctx context.Context, bootstrap, topic string, want func() (int64, bool), idle time.Duration, e2eSince time.Time) (ConsumeResult, error) {
	if idle <= 0 {
		return ConsumeResult{}, fmt.Errorf("%w: consume idle %v", ErrBadWorkload, idle)
	}
	start := time.Now()
	wire := newFetchCounter()
	cl, err := kgo.NewClient(
		kgo.WithHooks(wire),
		kgo.SeedBrokers(bootstrap),
		kgo.ClientID("highwater-bench"),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return ConsumeResult{}, fmt.Errorf("bench: consumer client: %w", err)
	}
	defer cl.Close()
	var (
		records, bytes int64
		first          time.Duration
		lastProgress   = start
		lastErr        error
		e2e            = NewLatencyHist()
	)
	result := func(now time.Time) ConsumeResult {
		r := withWire(consumeRate(records, bytes, now.Sub(start), first), wire)
		if e2e.Count() > 0 {
			r.EndToEnd = e2e.Summary()
		}
		return r
	}
	for {
		n, known := want()
		if known && records >= n {
			return result(time.Now()), nil
		}
		deadline := lastProgress.Add(idle)
		if !known {
			deadline = time.Now().Add(wantPoll)
		}
		pollCtx, cancel := context.WithDeadline(ctx, deadline)
		fs := cl.PollFetches(pollCtx)
		cancel()
		now := time.Now()
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				lastErr = err
			}
		})
		got := int64(0)
		fs.EachRecord(func(r *kgo.Record) {
			got++
			bytes += int64(len(r.Value) + len(r.Key))
			if !e2eSince.IsZero() && !r.Timestamp.Before(e2eSince) {
				e2e.Record(now.Sub(r.Timestamp))
			}
		})
		if got > 0 {
			if records == 0 {
				first = now.Sub(start)
			}
			records += got
			lastProgress = now
			continue
		}
		if err := ctx.Err(); err != nil {
			return result(now), err
		}
		if now.Sub(lastProgress) >= idle {
			return result(now), fmt.Errorf("%w: consumed %d records (want %d, known %v), nothing for %v (last fetch error: %v)",
				ErrStalled, records, n, known, idle, lastErr)
		}
	}
}
