package conformance

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchEdges: Fetch answers at the boundaries of the log the way Kafka
// does: at least one whole batch even when it exceeds the byte limits
// (KIP-74), whole batches when the offset falls inside one, an empty answer
// at the high watermark, OFFSET_OUT_OF_RANGE past it or below zero,
// UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist, and the
// watermarks of the partition.
func TestFetchEdges(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 30*time.Second)
	topic := tg.createTopic(ctx, 1, nil)
	prod := tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	value := bytes.Repeat([]byte("f"), 2048)
	for range 3 { // three batches of five 2 KiB records
		var recs []*kgo.Record
		for range 5 {
			recs = append(recs, &kgo.Record{Topic: topic, Value: value})
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}

	c := dialRaw(t, tg.Bootstrap)
	version := c.version(kmsg.Fetch, maxFetchVersion)
	fetch := func(offset int64, maxBytes int32) kmsg.FetchResponseTopicPartition {
		t.Helper()
		req := fetchRequest(version, topic, 0, offset, 100)
		req.MaxBytes = maxBytes
		req.Topics[0].Partitions[0].PartitionMaxBytes = maxBytes
		resp := c.roundTrip(req).(*kmsg.FetchResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			t.Fatalf("fetch at %d: top-level %v", offset, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch at %d: %d topics in response", offset, len(resp.Topics))
		}
		return resp.Topics[0].Partitions[0]
	}

	// Limits far below one batch: the first batch still comes back whole.
	p := fetch(0, 100)
	batches := splitBatches(t, p.RecordBatches)
	if p.ErrorCode != 0 || len(batches) == 0 || batches[0].base != 0 || batches[0].last != 4 {
		t.Errorf("fetch at 0 with 100-byte limits: %v, batches %+v; want the whole first batch (offsets 0..4)", kerr.ErrorForCode(p.ErrorCode), batches)
	}

	// An offset inside a batch: the batch containing it comes back whole.
	p = fetch(7, 1<<20)
	batches = splitBatches(t, p.RecordBatches)
	if p.ErrorCode != 0 || len(batches) == 0 || batches[0].base > 7 || batches[0].last < 7 {
		t.Errorf("fetch at 7: %v, batches %+v; want a first batch containing offset 7", kerr.ErrorForCode(p.ErrorCode), batches)
	}
	if n := len(batches); n > 0 && batches[n-1].last != 14 {
		t.Errorf("fetch at 7 with room for everything ended at %d, want 14", batches[n-1].last)
	}

	// At the high watermark: nothing, no error, watermarks reported.
	p = fetch(15, 1<<20)
	if p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Errorf("fetch at the high watermark: %v with %d bytes, want no error and nothing", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}
	if p.HighWatermark != 15 {
		t.Errorf("high watermark %d, want 15", p.HighWatermark)
	}
	if version >= 4 && p.LastStableOffset != 15 {
		t.Errorf("last stable offset %d, want 15 (no transactions)", p.LastStableOffset)
	}
	if version >= 5 && p.LogStartOffset != 0 {
		t.Errorf("log start offset %d, want 0", p.LogStartOffset)
	}

	for _, off := range []int64{16, 1000, -1} {
		if p := fetch(off, 1<<20); !errors.Is(kerr.ErrorForCode(p.ErrorCode), kerr.OffsetOutOfRange) {
			t.Errorf("fetch at %d: %v, want OFFSET_OUT_OF_RANGE", off, kerr.ErrorForCode(p.ErrorCode))
		}
	}

	req := fetchRequest(version, topic, 9, 0, 100)
	resp := c.roundTrip(req).(*kmsg.FetchResponse)
	if err := fetchPartitionErr(resp); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("fetch from partition 9 of a 1-partition topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
}

// batchSpan is the offset range of one record batch in a fetch response.
type batchSpan struct{ base, last int64 }

// splitBatches walks the concatenated batches of a fetch response. A
// trailing partial batch (allowed by the protocol) is ignored.
func splitBatches(t testing.TB, b []byte) []batchSpan {
	t.Helper()
	var spans []batchSpan
	for len(b) >= 12 {
		base := int64(binary.BigEndian.Uint64(b))
		length := int(int32(binary.BigEndian.Uint32(b[8:])))
		if length < 49 || 12+length > len(b) {
			break
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b[:12+length]); err != nil {
			t.Fatalf("decode fetched batch at %d: %v", base, err)
		}
		spans = append(spans, batchSpan{base, base + int64(rb.LastOffsetDelta)})
		b = b[12+length:]
	}
	return spans
}

// firstBatch decodes the first complete record batch of fetched bytes.
func firstBatch(t testing.TB, b []byte) kmsg.RecordBatch {
	t.Helper()
	if len(b) < 12 {
		t.Fatalf("fetched %d bytes, not a batch", len(b))
	}
	length := int(int32(binary.BigEndian.Uint32(b[8:])))
	if length < 49 || 12+length > len(b) {
		t.Fatalf("first batch length %d with %d bytes fetched", length, len(b))
	}
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b[:12+length]); err != nil {
		t.Fatalf("decode fetched batch: %v", err)
	}
	return rb
}
