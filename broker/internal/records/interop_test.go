package records

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Interop with franz-go in both directions, through an in-process kfake
// cluster on 127.0.0.1: franz-go's producer output must Decode, and our
// Build/Recompress output must be consumable by franz-go's consumer.

var kgoCodecs = map[Codec]kgo.CompressionCodec{
	CodecNone:   kgo.NoCompression(),
	CodecGzip:   kgo.GzipCompression(),
	CodecSnappy: kgo.SnappyCompression(),
	CodecLZ4:    kgo.Lz4Compression(),
	CodecZstd:   kgo.ZstdCompression(),
}

func interopRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		r := Record{OffsetDelta: int32(i), TimestampDelta: int64(i)}
		switch i % 4 {
		case 0: // null key, null value
		case 1:
			r.Key, r.Value = []byte{}, []byte{}
		case 2:
			r.Key = []byte(fmt.Sprintf("key-%d", i))
			r.Value = bytes.Repeat([]byte{byte(i)}, 100+i)
			r.Headers = []RecordHeader{{Key: "h", Value: []byte("v")}, {Key: "null", Value: nil}}
		case 3:
			r.Value = []byte(fmt.Sprintf("value-%d", i))
		}
		recs[i] = r
	}
	return recs
}

func startCluster(t *testing.T, topics ...string) (*kfake.Cluster, *kgo.Client, map[string][16]byte) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	details, err := kadm.NewClient(cl).ListTopics(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	ids := make(map[string][16]byte)
	for _, tp := range topics {
		ids[tp] = details[tp].ID
	}
	return c, cl, ids
}

// fetchRaw returns the raw record batches of partition 0 from offset 0.
func fetchRaw(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, id [16]byte) []byte {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxBytes = 32 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = 0, 0, 32<<20
	rp.CurrentLeaderEpoch, rp.LogStartOffset = -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.FetchResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response shape: %+v", resp)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch error code %d", p.ErrorCode)
	}
	return p.RecordBatches
}

func TestInteropDecodeFranzGoBatches(t *testing.T) {
	topics := make([]string, 0, len(allCodecs))
	for _, c := range allCodecs {
		topics = append(topics, "from-kgo-"+c.String())
	}
	cluster, _, ids := startCluster(t, topics...)
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			topic := "from-kgo-" + c.String()
			cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...),
				kgo.ProducerBatchCompression(kgoCodecs[c]), kgo.ProducerLinger(50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			want := interopRecords(200)
			base := time.UnixMilli(1_700_000_000_000)
			krs := make([]*kgo.Record, len(want))
			for i, r := range want {
				hs := make([]kgo.RecordHeader, len(r.Headers))
				for j, h := range r.Headers {
					hs[j] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
				}
				krs[i] = &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: hs,
					Timestamp: base.Add(time.Duration(i) * time.Millisecond)}
			}
			if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			batches, err := SplitBatches(fetchRaw(ctx, t, cl, topic, ids[topic]))
			if err != nil {
				t.Fatal(err)
			}
			var got []Record
			next := int64(0)
			for _, b := range batches {
				h, recs, err := Decode(b)
				if err != nil {
					t.Fatalf("decoding franz-go's %v batch: %v", c, err)
				}
				if h.Codec() != c {
					t.Fatalf("batch codec %v, want %v", h.Codec(), c)
				}
				if h.BaseOffset != next {
					t.Fatalf("base offset %d, want %d", h.BaseOffset, next)
				}
				// Batches came from a client, so they must pass Validate
				// too once the broker-assigned base offset is put back.
				clientView := bytes.Clone(b)
				SetBaseOffset(clientView, 0)
				if _, err := Validate(clientView, 1<<26); err != nil {
					t.Fatalf("Validate franz-go's %v batch: %v", c, err)
				}
				for i := range recs {
					r := recs[i]
					if got := h.FirstTimestamp + r.TimestampDelta; got != base.UnixMilli()+h.BaseOffset+int64(r.OffsetDelta) {
						t.Fatalf("timestamp %d", got)
					}
					r.OffsetDelta += int32(h.BaseOffset) // compare as absolute offsets
					r.TimestampDelta = int64(r.OffsetDelta)
					got = append(got, r)
				}
				next = h.LastOffset() + 1
			}
			recordsEqual(t, want, got)
		})
	}
}

// TestInteropFranzGoReadsOurBatches produces batches made by Build (and by
// Recompress from an uncompressed batch) with raw ProduceRequests, then
// consumes them with franz-go's consumer.
func TestInteropFranzGoReadsOurBatches(t *testing.T) {
	var topics []string
	for _, c := range allCodecs {
		topics = append(topics, "ours-build-"+c.String(), "ours-recompress-"+c.String())
	}
	cluster, cl, ids := startCluster(t, topics...)
	for _, c := range allCodecs {
		for _, how := range []string{"build", "recompress"} {
			t.Run(how+"-"+c.String(), func(t *testing.T) {
				topic := "ours-" + how + "-" + c.String()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				want := interopRecords(300)
				opts := DefaultBuildOptions()
				opts.FirstTimestamp = 1_700_000_000_000
				var batch []byte
				var err error
				if how == "build" {
					batch, err = Build(opts, c, want)
				} else {
					batch, err = Build(opts, CodecNone, want)
					if err == nil {
						batch, err = Recompress(batch, c)
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				produceRaw(ctx, t, cl, topic, ids[topic], batch)

				consumer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...),
					kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
					kgo.FetchMaxWait(100*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				defer consumer.Close()
				var got []*kgo.Record
				for len(got) < len(want) {
					fs := consumer.PollFetches(ctx)
					if err := ctx.Err(); err != nil {
						t.Fatalf("consumed %d of %d records: %v", len(got), len(want), err)
					}
					fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("consume: %v", err) })
					got = append(got, fs.Records()...)
				}
				for i, r := range want {
					g := got[i]
					if g.Offset != int64(i) || g.Timestamp.UnixMilli() != opts.FirstTimestamp+r.TimestampDelta {
						t.Fatalf("record %d: offset %d timestamp %v", i, g.Offset, g.Timestamp)
					}
					if !nullableEqual(r.Key, g.Key) || !nullableEqual(r.Value, g.Value) || len(r.Headers) != len(g.Headers) {
						t.Fatalf("record %d: want %+v, got key %q value %q headers %v", i, r, g.Key, g.Value, g.Headers)
					}
					for j, h := range r.Headers {
						if h.Key != g.Headers[j].Key || !nullableEqual(h.Value, g.Headers[j].Value) {
							t.Fatalf("record %d header %d: %+v vs %+v", i, j, h, g.Headers[j])
						}
					}
				}
			})
		}
	}
}

// nullableEqual compares contents and null-ness.
func nullableEqual(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func produceRaw(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, id [16]byte, batch []byte) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 0, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.ProduceResponse)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				msg := ""
				if rp.ErrorMessage != nil {
					msg = *rp.ErrorMessage
				}
				t.Fatalf("produce error code %d: %s", rp.ErrorCode, msg)
			}
		}
	}
}

// TestInteropCodecsDirect runs franz-go's default compressor and
// decompressor against ours, without a broker, on a payload spanning several
// snappy chunks and lz4 blocks.
func TestInteropCodecsDirect(t *testing.T) {
	plain := bytes.Repeat([]byte("highwater records interop "), 20_000)
	dec := kgo.DefaultDecompressor()
	for _, c := range allCodecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			ours, err := Compress(c, nil, plain)
			if err != nil {
				t.Fatal(err)
			}
			back, err := dec.Decompress(ours, kgo.CompressionCodecType(c))
			if err != nil || !bytes.Equal(back, plain) {
				t.Fatalf("franz-go reading ours: %v", err)
			}
			comp, err := kgo.DefaultCompressor(kgoCodecs[c])
			if err != nil {
				t.Fatal(err)
			}
			theirs, used := comp.Compress(new(bytes.Buffer), plain)
			if used != kgo.CompressionCodecType(c) {
				t.Fatalf("franz-go used codec %d", used)
			}
			back, err = Decompress(c, theirs)
			if err != nil || !bytes.Equal(back, plain) {
				t.Fatalf("reading franz-go's: %v", err)
			}
		})
	}
}
