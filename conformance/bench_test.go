package conformance

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const benchRecordBytes = 1024

// BenchmarkProduce: 1 KiB records, acks=all, default batching, one
// partition; throughput in MB/s via SetBytes.
func BenchmarkProduce(b *testing.B) {
	tg := newTarget(b, nil)
	ctx := testCtx(b, 10*time.Minute)
	topic := tg.createTopic(ctx, 1, nil)
	prod := tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	value := bytes.Repeat([]byte("b"), benchRecordBytes)
	var (
		once     sync.Once
		firstErr error
	)
	b.SetBytes(benchRecordBytes)
	b.ResetTimer()
	for range b.N {
		prod.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				once.Do(func() { firstErr = err })
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
}

// BenchmarkFetch: consume b.N 1 KiB records produced beforehand (outside
// the timer) from one partition.
func BenchmarkFetch(b *testing.B) {
	tg := newTarget(b, nil)
	ctx := testCtx(b, 10*time.Minute)
	topic := tg.createTopic(ctx, 1, nil)
	prod := tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	value := bytes.Repeat([]byte("b"), benchRecordBytes)
	for range b.N {
		prod.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	cons := tg.client(
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	b.SetBytes(benchRecordBytes)
	b.ResetTimer()
	for n := 0; n < b.N; {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			b.Fatalf("consumed %d of %d: %v", n, b.N, err)
		}
		n += fs.NumRecords()
	}
	b.StopTimer()
}
