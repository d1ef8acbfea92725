package conformance

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestProduceConsumeRoundTrip: for every codec and every acks setting,
// records keep key (including null), value (including null and empty),
// headers and per-partition order, and each partition's offsets are 0..n-1.
func TestProduceConsumeRoundTrip(t *testing.T) {
	tg := newTarget(t, nil)
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	}
	acks := []struct {
		name string
		acks kgo.Acks
	}{
		{"all", kgo.AllISRAcks()},
		{"leader", kgo.LeaderAck()},
		{"none", kgo.NoAck()},
	}
	for _, c := range codecs {
		for _, a := range acks {
			t.Run(c.name+"/acks="+a.name, func(t *testing.T) {
				t.Parallel()
				roundTrip(t, tg, c.codec, a.acks)
			})
		}
	}
}

const (
	roundTripPartitions = 3
	roundTripPerPart    = 40
)

// testRecord makes record i of partition p: every 5th has a null key, every
// 7th a null value, every 11th an empty value, and headers vary in number.
func testRecord(topic string, p int32, i int) *kgo.Record {
	r := &kgo.Record{Topic: topic, Partition: p}
	if i%5 != 0 {
		r.Key = fmt.Appendf(nil, "key-%d-%d", p, i)
	}
	switch {
	case i%7 == 0:
		r.Value = nil
	case i%11 == 0:
		r.Value = []byte{}
	default:
		// Repetitive enough for the codecs to actually compress.
		r.Value = bytes.Repeat(fmt.Appendf(nil, "value-%d-%d;", p, i), 1+i%4)
	}
	for h := range i % 3 {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: fmt.Sprintf("h%d", h), Value: fmt.Appendf(nil, "hv-%d", i)})
	}
	if i%6 == 0 {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: "nil-value"})
	}
	return r
}

func roundTrip(t *testing.T, tg *target, codec kgo.CompressionCodec, acks kgo.Acks) {
	ctx := testCtx(t, 60*time.Second)
	topic := tg.createTopic(ctx, roundTripPartitions, nil)
	opts := []kgo.Opt{
		kgo.ProducerBatchCompression(codec),
		kgo.RequiredAcks(acks),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	if acks != kgo.AllISRAcks() {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	prod := tg.client(opts...)
	var (
		mu      sync.Mutex
		sendErr error
		want    = map[int32][]*kgo.Record{}
	)
	for p := range int32(roundTripPartitions) {
		for i := range roundTripPerPart {
			r := testRecord(topic, p, i)
			want[p] = append(want[p], r)
			prod.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					sendErr = err
					mu.Unlock()
				}
			})
		}
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if sendErr != nil {
		t.Fatalf("produce: %v", sendErr)
	}
	got := consumeN(t, ctx, tg, topic, roundTripPartitions*roundTripPerPart)
	for p := range int32(roundTripPartitions) {
		recs := got[p]
		if len(recs) != roundTripPerPart {
			t.Fatalf("partition %d: got %d records, want %d", p, len(recs), roundTripPerPart)
		}
		for i, r := range recs {
			w := want[p][i]
			if r.Offset != int64(i) {
				t.Errorf("partition %d record %d: offset %d, want %d", p, i, r.Offset, i)
			}
			if !sameBytes(r.Key, w.Key) || !sameBytes(r.Value, w.Value) {
				t.Errorf("partition %d offset %d: key/value %q/%q, want %q/%q (nil-ness matters)", p, r.Offset, r.Key, r.Value, w.Key, w.Value)
			}
			if len(r.Headers) != len(w.Headers) {
				t.Errorf("partition %d offset %d: %d headers, want %d", p, r.Offset, len(r.Headers), len(w.Headers))
				continue
			}
			for h := range r.Headers {
				if r.Headers[h].Key != w.Headers[h].Key || !sameBytes(r.Headers[h].Value, w.Headers[h].Value) {
					t.Errorf("partition %d offset %d header %d: %q=%q, want %q=%q", p, r.Offset, h,
						r.Headers[h].Key, r.Headers[h].Value, w.Headers[h].Key, w.Headers[h].Value)
				}
			}
		}
	}
}

// sameBytes is bytes.Equal that also tells null from empty, since Kafka
// records (and tombstones) keep the difference.
func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// consumeN reads n records from the start of every partition of topic with
// a direct (groupless) consumer and returns them by partition, in order.
func consumeN(t testing.TB, ctx context.Context, tg *target, topic string, n int, opts ...kgo.Opt) map[int32][]*kgo.Record {
	t.Helper()
	all := append([]kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, opts...)
	cons := tg.client(all...)
	defer cons.Close()
	got := map[int32][]*kgo.Record{}
	count := 0
	for count < n {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before deadline", count, n)
		}
		for _, e := range fs.Errors() {
			t.Logf("fetch error (kgo retries): %s[%d]: %v", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], r)
			count++
		})
	}
	return got
}
