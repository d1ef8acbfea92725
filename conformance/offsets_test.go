package conformance

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// partition0 returns a function extracting partition 0 of topic from a
// kadm ListOffsets answer (shaped so it can wrap the call directly).
func partition0(t testing.TB, topic string) func(kadm.ListedOffsets, error) kadm.ListedOffset {
	return func(los kadm.ListedOffsets, err error) kadm.ListedOffset {
		t.Helper()
		return listOffset(t, los, err, topic)
	}
}

func listOffset(t testing.TB, los kadm.ListedOffsets, err error, topic string) kadm.ListedOffset {
	t.Helper()
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	lo, ok := los.Lookup(topic, 0)
	if !ok {
		t.Fatalf("list offsets: no answer for %s[0]", topic)
	}
	if lo.Err != nil {
		t.Fatalf("list offsets %s[0]: %v", topic, lo.Err)
	}
	return lo
}

// maxListOffsetsVersion caps ListOffsets at the version kmsg knows.
const maxListOffsetsVersion = 10

// listOffsetsRaw sends one ListOffsets request (v1+, over its own
// connection) for partition of topic at timestamp (or -1 latest, -2
// earliest) and returns the partition answer.
func listOffsetsRaw(t testing.TB, addr, topic string, partition int32, timestamp int64) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	c := dialRaw(t, addr)
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = c.version(kmsg.ListOffsets, maxListOffsetsVersion)
	if req.Version < 1 {
		t.Fatalf("broker only supports ListOffsets v0")
	}
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = partition
	rp.Timestamp = timestamp
	rp.CurrentLeaderEpoch = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := c.roundTrip(req).(*kmsg.ListOffsetsResponse)
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if tp.Topic == topic && p.Partition == partition {
				return p
			}
		}
	}
	t.Fatalf("list offsets response lacks %s[%d]", topic, partition)
	return kmsg.ListOffsetsResponseTopicPartition{}
}

// produceSeq produces n records with values v0..v(n-1) (optionally with
// timestamps) to partition 0, in batches of batch records, and returns
// their offsets.
func produceSeq(t testing.TB, ctx context.Context, cl *kgo.Client, topic string, n, batch int, ts func(i int) time.Time) {
	t.Helper()
	for start := 0; start < n; start += batch {
		var recs []*kgo.Record
		for i := start; i < min(n, start+batch); i++ {
			r := &kgo.Record{Topic: topic, Partition: 0, Value: fmt.Appendf(nil, "v%d", i)}
			if ts != nil {
				r.Timestamp = ts(i)
			}
			recs = append(recs, r)
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

// TestListOffsets: earliest, latest and by-timestamp lookups, including a
// timestamp past every record, which Kafka answers with offset -1.
func TestListOffsets(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 30*time.Second)
	topic := tg.createTopic(ctx, 1, nil)
	adm := tg.admin()
	cl := tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))

	if lo := partition0(t, topic)(adm.ListStartOffsets(ctx, topic)); lo.Offset != 0 {
		t.Errorf("empty topic: earliest %d, want 0", lo.Offset)
	}
	if lo := partition0(t, topic)(adm.ListEndOffsets(ctx, topic)); lo.Offset != 0 {
		t.Errorf("empty topic: latest %d, want 0", lo.Offset)
	}

	// Ten records one second apart, in two batches, an hour in the past
	// (CreateTime topics keep the producer's timestamps).
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	baseMs := base.UnixMilli()
	produceSeq(t, ctx, cl, topic, 10, 5, func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) })

	if lo := partition0(t, topic)(adm.ListStartOffsets(ctx, topic)); lo.Offset != 0 {
		t.Errorf("earliest %d, want 0", lo.Offset)
	}
	if lo := partition0(t, topic)(adm.ListEndOffsets(ctx, topic)); lo.Offset != 10 {
		t.Errorf("latest %d, want 10", lo.Offset)
	}
	for _, tc := range []struct {
		ts, wantOffset, wantTs int64
	}{
		{baseMs - 5000, 0, baseMs},
		{baseMs, 0, baseMs},
		{baseMs + 1, 1, baseMs + 1000},
		{baseMs + 3500, 4, baseMs + 4000},
		{baseMs + 5000, 5, baseMs + 5000}, // first record of the second batch
		{baseMs + 9000, 9, baseMs + 9000},
		{baseMs + 20000, -1, -1}, // past every record
	} {
		p := listOffsetsRaw(t, tg.Bootstrap, topic, 0, tc.ts)
		if p.ErrorCode != 0 || p.Offset != tc.wantOffset || p.Timestamp != tc.wantTs {
			t.Errorf("by timestamp %+d ms: offset %d ts %d err %v; want offset %d ts %+d ms",
				tc.ts-baseMs, p.Offset, p.Timestamp, kerr.ErrorForCode(p.ErrorCode), tc.wantOffset, tc.wantTs-baseMs)
		}
	}
	for _, special := range []struct {
		ts   int64
		want int64
	}{{-2, 0}, {-1, 10}} {
		if p := listOffsetsRaw(t, tg.Bootstrap, topic, 0, special.ts); p.ErrorCode != 0 || p.Offset != special.want {
			t.Errorf("timestamp %d: offset %d err %v, want %d", special.ts, p.Offset, kerr.ErrorForCode(p.ErrorCode), special.want)
		}
	}
	p := listOffsetsRaw(t, tg.Bootstrap, topic, 7, -1)
	if err := kerr.ErrorForCode(p.ErrorCode); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("list offsets of partition 7 of a 1-partition topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
}

// TestDeleteRecords: DeleteRecords raises the log start offset; fetching
// below it is OFFSET_OUT_OF_RANGE, which a consumer resets from; deleting
// past the high watermark is OFFSET_OUT_OF_RANGE; the start never goes
// back.
func TestDeleteRecords(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 30*time.Second)
	topic := tg.createTopic(ctx, 1, nil)
	adm := tg.admin()
	produceSeq(t, ctx, tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, 10, 3, nil)

	deleteTo := func(at int64) kadm.DeleteRecordsResponse {
		t.Helper()
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: at})
		resps, err := adm.DeleteRecords(ctx, os)
		if err != nil {
			t.Fatalf("delete records: %v", err)
		}
		r, ok := resps.Lookup(topic, 0)
		if !ok {
			t.Fatalf("delete records: no answer for partition 0")
		}
		return r
	}
	if r := deleteTo(4); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete records before 4: low watermark %d err %v, want 4", r.LowWatermark, r.Err)
	}
	if lo := partition0(t, topic)(adm.ListStartOffsets(ctx, topic)); lo.Offset != 4 {
		t.Errorf("earliest after delete %d, want 4", lo.Offset)
	}
	if lo := partition0(t, topic)(adm.ListEndOffsets(ctx, topic)); lo.Offset != 10 {
		t.Errorf("latest after delete %d, want 10", lo.Offset)
	}
	if r := deleteTo(2); r.Err != nil || r.LowWatermark != 4 {
		t.Errorf("delete records before 2 (below start 4): low watermark %d err %v, want 4 and no error", r.LowWatermark, r.Err)
	}
	if r := deleteTo(11); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Errorf("delete records past the high watermark: %v, want OFFSET_OUT_OF_RANGE", r.Err)
	}

	// A raw fetch below the start offset is OFFSET_OUT_OF_RANGE.
	c := dialRaw(t, tg.Bootstrap)
	freq := fetchRequest(c.version(kmsg.Fetch, maxFetchVersion), topic, 0, 2, 0)
	fresp := c.roundTrip(freq).(*kmsg.FetchResponse)
	if err := fetchPartitionErr(fresp); !errors.Is(err, kerr.OffsetOutOfRange) {
		t.Errorf("fetch at offset 2 below start 4: %v, want OFFSET_OUT_OF_RANGE", err)
	}

	// A consumer asked to start at 2 resets to the earliest, 4.
	cons := tg.client(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(2)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	var first *kgo.Record
	for first == nil {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no record consumed before deadline")
		}
		if recs := fs.Records(); len(recs) > 0 {
			first = recs[0]
		}
	}
	if first.Offset != 4 || string(first.Value) != "v4" {
		t.Errorf("consumer reset from 2 started at offset %d (%q), want 4 (v4)", first.Offset, first.Value)
	}

	// -1 deletes up to the high watermark.
	if r := deleteTo(-1); r.Err != nil || r.LowWatermark != 10 {
		t.Errorf("delete records to the high watermark (-1): low watermark %d err %v, want 10", r.LowWatermark, r.Err)
	}
	if lo := partition0(t, topic)(adm.ListStartOffsets(ctx, topic)); lo.Offset != 10 {
		t.Errorf("earliest after deleting everything %d, want 10", lo.Offset)
	}
}

// maxFetchVersion caps Fetch below v13, which names topics by ID.
const maxFetchVersion = 12

// fetchRequest builds a single-partition Fetch.
func fetchRequest(version int16, topic string, partition int32, offset int64, maxWaitMillis int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.ReplicaID = -1
	req.MaxWaitMillis = maxWaitMillis
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1 // no fetch session
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 1 << 20
	rp.CurrentLeaderEpoch = -1
	rp.LogStartOffset = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// fetchPartitionErr returns the request-level or the single partition's
// error of a one-partition fetch response.
func fetchPartitionErr(resp *kmsg.FetchResponse) error {
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return fmt.Errorf("fetch response has %d topics", len(resp.Topics))
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}
