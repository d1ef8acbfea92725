package conformance

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTopicCompressionType: the topic's compression.type decides how
// batches are stored: "producer" keeps the producer's codec, a named codec
// makes the broker recompress, "uncompressed" stores plain batches; the
// records read back the same either way.
func TestTopicCompressionType(t *testing.T) {
	tg := newTarget(t, nil)
	for _, tc := range []struct {
		topicCodec string
		produce    kgo.CompressionCodec
		wantCodec  int16 // batch attributes & 0x7
	}{
		{"producer", kgo.Lz4Compression(), 3},
		{"gzip", kgo.NoCompression(), 1},
		{"zstd", kgo.SnappyCompression(), 4},
		{"uncompressed", kgo.GzipCompression(), 0},
	} {
		t.Run(tc.topicCodec, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			topic := tg.createTopic(ctx, 1, map[string]*string{"compression.type": strp(tc.topicCodec)})
			prod := tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(tc.produce))
			var recs []*kgo.Record
			for i := range 20 {
				recs = append(recs, &kgo.Record{Topic: topic, Value: bytes.Repeat(fmt.Appendf(nil, "v%d;", i), 50)})
			}
			if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			c := dialRaw(t, tg.Bootstrap)
			resp := c.roundTrip(fetchRequest(c.version(kmsg.Fetch, maxFetchVersion), topic, 0, 0, 100)).(*kmsg.FetchResponse)
			if err := fetchPartitionErr(resp); err != nil {
				t.Fatalf("fetch: %v", err)
			}
			rb := firstBatch(t, resp.Topics[0].Partitions[0].RecordBatches)
			if got := rb.Attributes & 0x7; got != tc.wantCodec {
				t.Errorf("stored codec %d, want %d", got, tc.wantCodec)
			}
			got := consumeN(t, ctx, tg, topic, 20)[0]
			for i, r := range got {
				if !bytes.Equal(r.Value, recs[i].Value) || r.Offset != int64(i) {
					t.Errorf("offset %d: value differs after storage with %s", r.Offset, tc.topicCodec)
				}
			}
		})
	}
}
