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
	if want < 0 || idle <= 0 {
		return ConsumeResult{}, fmt.Errorf("%w: consume want %d, idle %v", ErrBadWorkload, want, idle)
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
	)
	for records < want {
		pollCtx, cancel := context.WithDeadline(ctx, lastProgress.Add(idle))
		fs := cl.PollFetches(pollCtx)
		cancel()
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				lastErr = err
			}
		})
		n := int64(0)
		fs.EachRecord(func(r *kgo.Record) {
			n++
			bytes += int64(len(r.Value) + len(r.Key))
		})
		now := time.Now()
		if n > 0 {
			if records == 0 {
				first = now.Sub(start)
			}
			records += n
			lastProgress = now
			continue
		}
		if err := ctx.Err(); err != nil {
			return withWire(consumeRate(records, bytes, now.Sub(start), first), wire), err
		}
		if now.Sub(lastProgress) >= idle {
			return withWire(consumeRate(records, bytes, now.Sub(start), first), wire),
				fmt.Errorf("%w: consumed %d of %d records, nothing for %v (last fetch error: %v)", ErrStalled, records, want, idle, lastErr)
		}
	}
	return withWire(consumeRate(records, bytes, time.Since(start), first), wire), nil
}
