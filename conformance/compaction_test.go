package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// compactionProps make the log cleaner look for work every 100 ms (Kafka's
// default is 15 s).
var compactionProps = map[string]string{"log.cleaner.backoff.ms": "100"}

// compactedTopicConfigs roll a segment every 100 ms of record time (Kafka
// 4 accepts no segment.bytes below 1 MiB) and clean as soon as anything
// is dirty; tombstones stay an hour.
func compactedTopicConfigs() map[string]*string {
	return map[string]*string{
		"cleanup.policy":            strp("compact"),
		"segment.ms":                strp("100"),
		"min.cleanable.dirty.ratio": strp("0.01"),
		"delete.retention.ms":       strp("3600000"),
	}
}

type compactedValue struct {
	offset int64
	value  string // "<nil>": a tombstone
}

func valueText(v []byte) string {
	if v == nil {
		return "<nil>"
	}
	return string(v)
}

// TestCompactionKeepsNewestPerKey: keys overwritten many times (one a
// tombstone), spread over segments rolled by segment.ms; once the cleaner
// has run, reading the partition from its start gives exactly the newest
// record of every key, at the offset it was produced at, tombstone
// included (within delete.retention.ms). The log end does not move.
func TestCompactionKeepsNewestPerKey(t *testing.T) {
	tg := newTarget(t, compactionProps)
	ctx := testCtx(t, 120*time.Second)
	topic := tg.createTopic(ctx, 1, compactedTopicConfigs())
	prod := tg.client(kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := map[string]compactedValue{}
	produce := func(key string, value []byte) {
		r := &kgo.Record{Topic: topic, Key: []byte(key), Value: value}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", key, err)
		}
		want[key] = compactedValue{r.Offset, valueText(value)}
		time.Sleep(15 * time.Millisecond) // about one segment per 7 records
	}
	for round := range 10 {
		for k := range 6 {
			produce(fmt.Sprint("key-", k), fmt.Appendf(nil, "round-%d", round))
		}
	}
	produce("key-2", nil)
	produce("key-4", []byte("final"))
	// Records with keys of their own, later than segment.ms, seal the
	// segments above so the cleaner may take them.
	for i := range 3 {
		time.Sleep(150 * time.Millisecond)
		produce(fmt.Sprint("filler-", i), []byte("f"))
	}
	end := partition0(t, topic)(tg.admin().ListEndOffsets(ctx, topic)).Offset

	eventually(t, ctx, "the partition compacted to the newest record per key", func() error {
		cons := tg.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		defer cons.Close()
		got := map[string]compactedValue{}
		n := 0
		for next := int64(0); next < end; {
			fs := cons.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fs.Err(); err != nil {
				return err
			}
			fs.EachRecord(func(r *kgo.Record) {
				got[string(r.Key)] = compactedValue{r.Offset, valueText(r.Value)}
				n++
				next = r.Offset + 1
			})
		}
		if n != len(got) {
			return fmt.Errorf("%d records for %d keys: not compacted yet", n, len(got))
		}
		for k, w := range want {
			if g, ok := got[k]; !ok || g != w {
				return fmt.Errorf("key %s: read %+v (present %v), want %+v", k, g, ok, w)
			}
		}
		if len(got) != len(want) {
			return fmt.Errorf("read %d keys, produced %d", len(got), len(want))
		}
		return nil
	})
	if e := partition0(t, topic)(tg.admin().ListEndOffsets(ctx, topic)).Offset; e != end {
		t.Fatalf("log end moved from %d to %d", end, e)
	}
}

// TestCompactionRefusesKeylessRecord: a record without a key on a
// compacted topic is INVALID_RECORD (v8+: named in ErrorRecords) for its
// partition only; the request's other partition appends.
func TestCompactionRefusesKeylessRecord(t *testing.T) {
	tg := newTarget(t, compactionProps)
	ctx := testCtx(t, 60*time.Second)
	topic := tg.createTopic(ctx, 2, compactedTopicConfigs())
	c := dialRaw(t, tg.Bootstrap)
	version := c.version(kmsg.Produce, maxProduceVersion)
	now := time.Now().UnixMilli()
	req := produceRequest(version, topic, 0, buildBatch(now, rawRecord{Value: []byte("no key")}))
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = 1
	rp.Records = buildBatch(now, rawRecord{Key: []byte("k"), Value: []byte("v")})
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	resp := c.roundTrip(req).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("produce response: want 1 topic with 2 partitions, got %+v", resp.Topics)
	}
	for _, p := range resp.Topics[0].Partitions {
		switch p.Partition {
		case 0:
			if p.ErrorCode != kerr.InvalidRecord.Code {
				t.Errorf("keyless record: error %v, want INVALID_RECORD", kerr.ErrorForCode(p.ErrorCode))
			}
			if version >= 8 && (len(p.ErrorRecords) != 1 || p.ErrorRecords[0].RelativeOffset != 0) {
				t.Errorf("keyless record: ErrorRecords %+v, want record 0", p.ErrorRecords)
			}
		case 1:
			if p.ErrorCode != 0 || p.BaseOffset != 0 {
				t.Errorf("keyed record on partition 1: error %v, base offset %d; want appended at 0", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
			}
		}
	}
	if e := partition0(t, topic)(tg.admin().ListEndOffsets(ctx, topic)).Offset; e != 0 {
		t.Fatalf("partition 0 ends at %d after a refused record, want 0", e)
	}
}

// TestCompactionDeleteRecordsPolicy: DeleteRecords needs the delete
// policy: on a compact-only topic it is POLICY_VIOLATION, on
// compact,delete it raises the log start offset.
func TestCompactionDeleteRecordsPolicy(t *testing.T) {
	tg := newTarget(t, compactionProps)
	ctx := testCtx(t, 60*time.Second)
	for _, tc := range []struct {
		policy string
		want   error
	}{{"compact", kerr.PolicyViolation}, {"compact,delete", nil}} {
		configs := compactedTopicConfigs()
		configs["cleanup.policy"] = strp(tc.policy)
		topic := tg.createTopic(ctx, 1, configs)
		prod := tg.client(kgo.ProducerLinger(0))
		for i := range 3 {
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint("k", i)), Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, prod)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if got := kerr.ErrorForCode(p.ErrorCode); got != tc.want {
			t.Errorf("cleanup.policy=%s: DeleteRecords error %v, want %v", tc.policy, got, tc.want)
		}
		if tc.want == nil && p.LowWatermark != 1 {
			t.Errorf("cleanup.policy=%s: low watermark %d, want 1", tc.policy, p.LowWatermark)
		}
	}
}
