package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTopicCompressionType: a topic whose compression.type names a codec
// stores every batch in that codec whatever the producer used (the broker
// recompresses), and "producer" keeps the producer's codec. Records read back
// unchanged either way.
func TestTopicCompressionType(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 60*time.Second)
	cases := []struct {
		topicCodec string
		produce    kgo.CompressionCodec
		wantCodec  int8 // batch attributes & 0x07
	}{
		{"producer", kgo.GzipCompression(), 1},
		{"producer", kgo.NoCompression(), 0},
		{"zstd", kgo.GzipCompression(), 4},
		{"lz4", kgo.NoCompression(), 3},
		{"snappy", kgo.ZstdCompression(), 2},
		{"gzip", kgo.Lz4Compression(), 1},
		{"uncompressed", kgo.SnappyCompression(), 0},
	}
	for _, c := range cases {
		topic := tg.createTopic(ctx, 1, map[string]*string{"compression.type": strp(c.topicCodec)})
		cl := tg.client(kgo.ProducerBatchCompression(c.produce), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		var recs []*kgo.Record
		for i := range 20 {
			recs = append(recs, testRecord(topic, 0, i))
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("%s: produce: %v", c.topicCodec, err)
		}
		for _, codec := range storedCodecs(t, ctx, cl, topic) {
			if codec != c.wantCodec {
				t.Errorf("topic compression.type=%s, producer %v: stored batch codec %d, want %d", c.topicCodec, c.produce, codec, c.wantCodec)
			}
		}
		got := consumeN(t, ctx, tg, topic, len(recs))[0]
		for i, r := range got {
			if !sameBytes(r.Key, recs[i].Key) || !sameBytes(r.Value, recs[i].Value) || len(r.Headers) != len(recs[i].Headers) {
				t.Fatalf("compression.type=%s: record %d changed on the way through", c.topicCodec, i)
			}
		}
	}
}

// storedCodecs fetches partition 0 raw and returns each batch's codec.
func storedCodecs(t *testing.T, ctx context.Context, cl *kgo.Client, topic string) []int8 {
	t.Helper()
	// The client picks the request version (v13+ name topics by id), so
	// give both the name and the id.
	details, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil || details[topic].Err != nil {
		t.Fatalf("metadata for %s: %v %v", topic, err, details[topic].Err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 100, 1<<20
	req.SessionEpoch = -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = topic, details[topic].ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes, fp.CurrentLeaderEpoch, fp.LogStartOffset = 1<<20, -1, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("raw fetch: %v", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("raw fetch: unexpected response shape")
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("raw fetch: %v", err)
	}
	var codecs []int8
	data := p.RecordBatches
	for len(data) > 0 {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(data); err != nil {
			t.Fatalf("raw fetch: decoding batch: %v", err)
		}
		codecs = append(codecs, int8(b.Attributes&0x07))
		data = data[12+int(b.Length):]
	}
	if len(codecs) == 0 {
		t.Fatalf("raw fetch returned no batches")
	}
	return codecs
}

// TestLogAppendTime: with message.timestamp.type=LogAppendTime the broker
// stamps its own time on every record and reports it in the produce
// response; consumers see that time, not the producer's.
func TestLogAppendTime(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 60*time.Second)
	topic := tg.createTopic(ctx, 1, map[string]*string{"message.timestamp.type": strp("LogAppendTime")})
	cl := tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	old := time.Now().Add(-240 * time.Hour).Truncate(time.Millisecond)
	before := time.Now().Add(-time.Minute)
	r := &kgo.Record{Topic: topic, Value: []byte("v"), Timestamp: old}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := consumeN(t, ctx, tg, topic, 1)[0][0]
	if got.Timestamp.Before(before) || got.Timestamp.Equal(old) {
		t.Errorf("consumed timestamp %v: want the broker's append time, not the producer's %v", got.Timestamp, old)
	}
	if got.Attrs.TimestampType() != 1 {
		t.Errorf("timestamp type %d, want 1 (LogAppendTime)", got.Attrs.TimestampType())
	}
}
