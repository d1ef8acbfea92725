package conformance

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRetentionAdvancesLogStart: with 1 MiB segments (the smallest Kafka 4
// accepts) and a short retention, old segments are deleted and the log
// start offset advances, never past the log end; what is left reads
// contiguously from the new start, and new records append at the old end.
// (Time retention may delete every segment, the active one included: Kafka
// then rolls an empty one, so start == end is allowed.)
func TestRetentionAdvancesLogStart(t *testing.T) {
	tg := newTarget(t, map[string]string{"log.retention.check.interval.ms": "250"})
	for _, tc := range []struct {
		name    string
		configs map[string]*string
		// stable: once retention has run, nothing more expires, so the
		// rest of the log can be read back in full.
		stable bool
	}{
		{"time", map[string]*string{"retention.ms": strp("1000")}, false},
		{"size", map[string]*string{"retention.bytes": strp("1048576")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t, 60*time.Second)
			configs := map[string]*string{"segment.bytes": strp("1048576")}
			for k, v := range tc.configs {
				configs[k] = v
			}
			topic := tg.createTopic(ctx, 1, configs)
			prod := tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
			// 3000 records of 1 KiB: about three segments.
			const total = 3000
			value := bytes.Repeat([]byte("r"), 1024)
			for start := 0; start < total; start += 100 {
				var recs []*kgo.Record
				for range 100 {
					recs = append(recs, &kgo.Record{Topic: topic, Value: value})
				}
				if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
			}
			adm := tg.admin()
			var start int64
			eventually(t, ctx, "log start offset advanced by retention", func() error {
				lo := partition0(t, topic)(adm.ListStartOffsets(ctx, topic))
				start = lo.Offset
				if start == 0 {
					return fmt.Errorf("log start offset still 0")
				}
				return nil
			})
			end := partition0(t, topic)(adm.ListEndOffsets(ctx, topic)).Offset
			if end != total {
				t.Errorf("end offset %d, want %d: retention must not touch the log end", end, total)
			}
			if start > end {
				t.Fatalf("log start %d past the end %d", start, end)
			}
			if start < end && tc.stable {
				// Retention may still be finishing its pass, so the first
				// record's offset is checked against the start, not equal.
				recs := consumeN(t, ctx, tg, topic, int(end-start))[0]
				first := recs[0].Offset
				if first < start {
					t.Fatalf("consumer read offset %d below the log start %d", first, start)
				}
				for i, r := range recs {
					if r.Offset != first+int64(i) {
						t.Fatalf("record %d at offset %d, want %d (gap after retention)", i, r.Offset, first+int64(i))
					}
				}
			}
			r, err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after")}).First()
			if err != nil {
				t.Fatalf("produce after retention: %v", err)
			}
			if r.Offset != total {
				t.Errorf("record after retention at offset %d, want %d", r.Offset, total)
			}
		})
	}
}
