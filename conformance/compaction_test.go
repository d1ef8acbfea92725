package conformance

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
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
	tsMs   int64  // record timestamp
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
// record of every key, at the offset and with the timestamp it was
// produced with, tombstone included (within delete.retention.ms). The
// tombstone's batch carries its KIP-534 delete horizon: attribute bit 6
// and, as base timestamp, the cleaning time plus delete.retention.ms. The
// log end does not move.
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
		want[key] = compactedValue{r.Offset, valueText(value), r.Timestamp.UnixMilli()}
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
				got[string(r.Key)] = compactedValue{r.Offset, valueText(r.Value), r.Timestamp.UnixMilli()}
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
	compactedBy := time.Now().UnixMilli()
	if e := partition0(t, topic)(tg.admin().ListEndOffsets(ctx, topic)).Offset; e != end {
		t.Fatalf("log end moved from %d to %d", end, e)
	}

	tomb := want["key-2"]
	c := dialRaw(t, tg.Bootstrap)
	resp := c.roundTrip(fetchRequest(c.version(kmsg.Fetch, maxFetchVersion), topic, 0, tomb.offset, 100)).(*kmsg.FetchResponse)
	if err := fetchPartitionErr(resp); err != nil {
		t.Fatalf("fetch at the tombstone (%d): %v", tomb.offset, err)
	}
	rb := firstBatch(t, resp.Topics[0].Partitions[0].RecordBatches)
	const retentionMs, deleteHorizonBit = 3_600_000, 0x40
	if rb.FirstOffset != tomb.offset || rb.NumRecords != 1 || rb.Attributes&deleteHorizonBit == 0 ||
		rb.FirstTimestamp < tomb.tsMs+retentionMs || rb.FirstTimestamp > compactedBy+retentionMs || rb.MaxTimestamp != tomb.tsMs {
		t.Fatalf("tombstone batch: base offset %d, %d records, attributes %#x, base timestamp %d, max timestamp %d; "+
			"want offset %d, 1 record, bit 0x40, base timestamp in [%d, %d] (cleaning time + delete.retention.ms), max %d",
			rb.FirstOffset, rb.NumRecords, rb.Attributes, rb.FirstTimestamp, rb.MaxTimestamp,
			tomb.offset, tomb.tsMs+retentionMs, compactedBy+retentionMs, tomb.tsMs)
	}
}

// TestCompactionRebuiltBatchTimestamps: a batch that loses a record to a
// newer one with its key is rewritten with the same base offset and last
// offset delta, its first kept record's timestamp as base timestamp (Kafka's
// MemoryRecordsBuilder), the largest kept timestamp as max timestamp, no
// delete horizon (it holds no tombstone), and every kept record reads back
// with its own timestamp.
func TestCompactionRebuiltBatchTimestamps(t *testing.T) {
	tg := newTarget(t, compactionProps)
	ctx := testCtx(t, 120*time.Second)
	topic := tg.createTopic(ctx, 1, compactedTopicConfigs())
	base := time.Now().UnixMilli()
	batch := buildTimedBatch(base, []int64{0, 10, 20}, "a", "b", "c")
	if code, offset := produceRaw(t, tg.Bootstrap, topic, 0, batch); code != 0 || offset != 0 {
		t.Fatalf("produce a, b, c: error %v at %d, want appended at 0", kerr.ErrorForCode(code), offset)
	}
	prod := tg.client(kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(key string) {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", key, err)
		}
	}
	produce("a")
	for i := range 3 { // later than segment.ms: seals the segments above
		time.Sleep(150 * time.Millisecond)
		produce(fmt.Sprint("filler-", i))
	}

	c := dialRaw(t, tg.Bootstrap)
	version := c.version(kmsg.Fetch, maxFetchVersion)
	var rb kmsg.RecordBatch
	eventually(t, ctx, "the first batch compacted", func() error {
		resp := c.roundTrip(fetchRequest(version, topic, 0, 0, 100)).(*kmsg.FetchResponse)
		if err := fetchPartitionErr(resp); err != nil {
			return err
		}
		if rb = firstBatch(t, resp.Topics[0].Partitions[0].RecordBatches); rb.NumRecords == 3 {
			return fmt.Errorf("first batch still holds %d records", rb.NumRecords)
		}
		return nil
	})
	if rb.FirstOffset != 0 || rb.LastOffsetDelta != 2 || rb.NumRecords != 2 || rb.Attributes&0x40 != 0 ||
		rb.FirstTimestamp != base+10 || rb.MaxTimestamp != base+20 {
		t.Fatalf("rebuilt batch: offset %d, last offset delta %d, %d records, attributes %#x, timestamps %d..%d; "+
			"want 0, 2, 2 records, no 0x40, timestamps %d..%d", rb.FirstOffset, rb.LastOffsetDelta, rb.NumRecords,
			rb.Attributes, rb.FirstTimestamp, rb.MaxTimestamp, base+10, base+20)
	}
	cons := tg.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	got := map[string]int64{}
	for len(got) < 2 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consuming: %v (read %v)", err, got)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < 3 {
				got[string(r.Key)] = r.Timestamp.UnixMilli() - base
			}
		})
	}
	if got["b"] != 10 || got["c"] != 20 || len(got) != 2 {
		t.Fatalf("record timestamps after base %v, want b at +10 and c at +20", got)
	}
}

// TestCompactionEmptiedProducerBatch: an idempotent producer's only batch,
// its record overwritten by another producer, stays as a bare header so
// that the producer's sequence survives: same offsets and producer fields,
// no records, no compression, base timestamp -1, the original max
// timestamp.
func TestCompactionEmptiedProducerBatch(t *testing.T) {
	tg := newTarget(t, compactionProps)
	ctx := testCtx(t, 120*time.Second)
	topic := tg.createTopic(ctx, 1, compactedTopicConfigs())
	prod := tg.client(kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.GzipCompression()))
	r := &kgo.Record{Topic: topic, Key: []byte("x"), Value: []byte("idempotent")}
	if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil || r.Offset != 0 {
		t.Fatalf("idempotent produce: %v at %d, want offset 0", err, r.Offset)
	}
	produce := func(key string) {
		t.Helper()
		if code, _ := produceRaw(t, tg.Bootstrap, topic, 0, buildBatch(time.Now().UnixMilli(), rawRecord{Key: []byte(key), Value: []byte("v")})); code != 0 {
			t.Fatalf("produce %s: %v", key, kerr.ErrorForCode(code))
		}
	}
	produce("x")
	for i := range 3 { // later than segment.ms: seals the segments above
		time.Sleep(150 * time.Millisecond)
		produce(fmt.Sprint("filler-", i))
	}

	c := dialRaw(t, tg.Bootstrap)
	version := c.version(kmsg.Fetch, maxFetchVersion)
	var rb kmsg.RecordBatch
	eventually(t, ctx, "the idempotent batch emptied", func() error {
		resp := c.roundTrip(fetchRequest(version, topic, 0, 0, 100)).(*kmsg.FetchResponse)
		if err := fetchPartitionErr(resp); err != nil {
			return err
		}
		if rb = firstBatch(t, resp.Topics[0].Partitions[0].RecordBatches); rb.NumRecords != 0 {
			return fmt.Errorf("first batch at %d holds %d records", rb.FirstOffset, rb.NumRecords)
		}
		return nil
	})
	if rb.FirstOffset != 0 || rb.LastOffsetDelta != 0 || rb.ProducerID < 0 || rb.FirstSequence != 0 ||
		rb.Attributes&0x07 != 0 || rb.FirstTimestamp != -1 || rb.MaxTimestamp != r.Timestamp.UnixMilli() {
		t.Fatalf("emptied batch %+v: want offset 0, last offset delta 0, the producer's id and sequence 0, "+
			"no compression, base timestamp -1, max timestamp %d", rb, r.Timestamp.UnixMilli())
	}
}

// TestCompactionMarkerHorizon: a COMMIT marker whose transaction's data
// was compacted away gets, on a later pass, the KIP-534 delete horizon in
// its batch header (attribute bit 6, base timestamp = cleaning time +
// delete.retention.ms) and stays until then.
func TestCompactionMarkerHorizon(t *testing.T) {
	tg := newTarget(t, compactionProps)
	ctx := testCtx(t, 120*time.Second)
	topic := tg.createTopic(ctx, 1, compactedTopicConfigs())
	txn := tg.client(kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionalID(uniqueName(t, "marker-horizon")))
	committed := func(key string) int64 {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		r := &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte("committed")}
		if err := txn.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", key, err)
		}
		if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit: %v", err)
		}
		return r.Offset
	}
	start := time.Now().UnixMilli()
	if off := committed("t"); off != 0 {
		t.Fatalf("first transaction at %d, want 0 (its marker at 1)", off)
	}
	committed("u") // so that the first batch is not the producer's last
	produce := func(key string) {
		t.Helper()
		if code, _ := produceRaw(t, tg.Bootstrap, topic, 0, buildBatch(time.Now().UnixMilli(), rawRecord{Key: []byte(key), Value: []byte("v")})); code != 0 {
			t.Fatalf("produce %s: %v", key, kerr.ErrorForCode(code))
		}
	}
	produce("t") // overwrites the first transaction's record

	c := dialRaw(t, tg.Bootstrap)
	version := c.version(kmsg.Fetch, maxFetchVersion)
	var rb kmsg.RecordBatch
	fillers := 0
	eventually(t, ctx, "the COMMIT marker at 1 stamped with its delete horizon", func() error {
		// Each round seals a segment of new dirty data, so the cleaner
		// keeps taking passes: the first drops the data, a later one
		// stamps the marker.
		time.Sleep(150 * time.Millisecond)
		produce(fmt.Sprint("filler-", fillers))
		fillers++
		resp := c.roundTrip(fetchRequest(version, topic, 0, 1, 100)).(*kmsg.FetchResponse)
		if err := fetchPartitionErr(resp); err != nil {
			return err
		}
		rb = firstBatch(t, resp.Topics[0].Partitions[0].RecordBatches)
		if rb.FirstOffset != 1 || rb.Attributes&0x20 == 0 {
			t.Fatalf("first batch from 1: offset %d, attributes %#x; want the COMMIT marker at 1", rb.FirstOffset, rb.Attributes)
		}
		if rb.Attributes&0x40 == 0 {
			return fmt.Errorf("marker without a horizon yet (attributes %#x)", rb.Attributes)
		}
		return nil
	})
	const retentionMs = 3_600_000
	if now := time.Now().UnixMilli(); rb.FirstTimestamp < start+retentionMs || rb.FirstTimestamp > now+retentionMs ||
		rb.NumRecords != 1 || rb.MaxTimestamp < start || rb.MaxTimestamp > now {
		t.Fatalf("marker batch: %d records, base timestamp %d, max %d; want 1 record, base in [%d, %d], max in [%d, %d]",
			rb.NumRecords, rb.FirstTimestamp, rb.MaxTimestamp, start+retentionMs, now+retentionMs, start, now)
	}
}

// buildTimedBatch is buildBatch with the records' timestamps at baseMs plus
// deltasMs; keys only, each with value "v".
func buildTimedBatch(baseMs int64, deltasMs []int64, keys ...string) []byte {
	var recs []byte
	for i, k := range keys {
		rec := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: deltasMs[i], Key: []byte(k), Value: []byte("v")}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1) // the varint 0 Length is one byte
		recs = rec.AppendTo(recs)
	}
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(keys) - 1),
		FirstTimestamp: baseMs, MaxTimestamp: baseMs + deltasMs[len(deltasMs)-1],
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(keys)), Records: recs}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
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
