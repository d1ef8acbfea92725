package handler_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/records"
)

// txnBatch builds a transactional batch whose record values are vals.
func txnBatch(t *testing.T, pid int64, epoch int16, seq int32, vals ...string) []byte {
	t.Helper()
	opts := records.DefaultBuildOptions()
	opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence, opts.Transactional = pid, epoch, seq, true
	opts.FirstTimestamp = time.Now().UnixMilli()
	recs := make([]records.Record, len(vals))
	for i, v := range vals {
		recs[i] = records.Record{OffsetDelta: int32(i), Value: []byte(v)}
	}
	b, err := records.Build(opts, records.CodecNone, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeMarker sends WriteTxnMarkers for partition 0 of topic.
func writeMarker(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, pid int64, epoch int16, coordEpoch int32, commit bool) int16 {
	t.Helper()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, commit, coordEpoch
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{0}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Markers) != 1 || len(resp.Markers[0].Topics) != 1 || len(resp.Markers[0].Topics[0].Partitions) != 1 {
		t.Fatalf("WriteTxnMarkers response shape: %+v", resp)
	}
	return resp.Markers[0].Topics[0].Partitions[0].ErrorCode
}

// fetchPartition is one read_committed (or uncommitted) fetch of partition 0
// from offset.
func fetchPartition(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, id [16]byte, offset int64, isolation int8) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MaxBytes, req.IsolationLevel = -1, 0, 1<<20, isolation
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id // kgo picks the version: by name or by id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response shape: %+v", resp)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	return p
}

// batchBases lists the base offsets of the batches in a fetch answer.
func batchBases(t *testing.T, data []byte) []int64 {
	t.Helper()
	var out []int64
	for len(data) > 0 {
		h, err := records.ReadHeader(data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h.BaseOffset)
		data = data[h.Size():]
	}
	return out
}

func listLatest(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, isolation int8) int64 {
	t.Helper()
	return listOffsetAt(ctx, t, cl, topic, -1, isolation)
}

func listOffsetAt(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, ts int64, isolation int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID, req.IsolationLevel = -1, isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp, rp.CurrentLeaderEpoch = ts, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("ListOffsets: %v %+v", err, resp)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("ListOffsets: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset
}

// describeProducers returns producer id -> (epoch, open transaction start).
func describeProducers(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) map[int64][2]int64 {
	t.Helper()
	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("DescribeProducers: %v %+v", err, resp)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("DescribeProducers: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	out := map[int64][2]int64{}
	for _, ap := range p.ActiveProducers {
		out[ap.ProducerID] = [2]int64{int64(ap.ProducerEpoch), ap.CurrentTxnStartOffset}
	}
	return out
}

// consumeAll reads partition 0 from the start with a franz-go consumer
// at the given isolation level until it has want records, then polls once
// more briefly to catch any extra, and returns the values.
func consumeAll(ctx context.Context, t *testing.T, addr, topic string, committed bool, want int) []string {
	t.Helper()
	opts := []kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(100 * time.Millisecond)}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl := newClient(t, addr, opts...)
	defer cl.Close()
	var vals []string
	poll := func(ctx context.Context) {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) {
			if ctx.Err() == nil {
				t.Fatalf("fetch: %v", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { vals = append(vals, string(r.Value)) })
	}
	for len(vals) < want {
		if err := ctx.Err(); err != nil {
			t.Fatalf("consuming %s: %v (have %q)", topic, err, vals)
		}
		poll(ctx)
	}
	extra, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	poll(extra)
	return vals
}

// TestTransactionalPartition drives the partition side of transactions
// with raw requests, as a transaction coordinator and a transactional
// producer would: transactional batches hold back the last stable offset,
// markers move it, read_committed fetches stop at it and carry the aborted
// transactions, fenced producers are refused, a franz-go read_committed
// consumer skips aborted records, and all of it survives a restart.
func TestTransactionalPartition(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir)
	ctx := testCtx(t)
	raw := newClient(t, tb.addr)
	const topic = "txp"
	id := createTopic(ctx, t, kadm.NewClient(raw), topic)
	const pa, pb, pc = 1000, 2000, 3000

	step := func(what string, batch []byte, want *kerr.Error, wantBase int64) {
		t.Helper()
		r := produceRaw(ctx, t, raw, topic, id, batch)
		if want != nil {
			wantCode(t, what, r, want)
			return
		}
		if r.ErrorCode != 0 || r.BaseOffset != wantBase {
			t.Fatalf("%s: %v at base offset %d, want success at %d", what, kerr.ErrorForCode(r.ErrorCode), r.BaseOffset, wantBase)
		}
	}
	step("A's first transactional batch", txnBatch(t, pa, 0, 0, "a1", "a2"), nil, 0)
	step("B's transactional batch", txnBatch(t, pb, 0, 0, "b1"), nil, 2)
	step("a plain batch", idemBatch(t, 5000, 0, 0, 1), nil, 3)
	step("B outside its open transaction", idemBatch(t, pb, 0, 1, 1), kerr.InvalidTxnState, 0)

	f := fetchPartition(ctx, t, raw, topic, id, 0, 1)
	if f.HighWatermark != 4 || f.LastStableOffset != 0 || len(f.RecordBatches) != 0 {
		t.Fatalf("read_committed with two open transactions: HW %d LSO %d, %d bytes; want 4, 0, none",
			f.HighWatermark, f.LastStableOffset, len(f.RecordBatches))
	}
	if u := fetchPartition(ctx, t, raw, topic, id, 0, 0); u.LastStableOffset != 0 || !reflect.DeepEqual(batchBases(t, u.RecordBatches), []int64{0, 2, 3}) {
		t.Fatalf("read_uncommitted: LSO %d, batches %v", u.LastStableOffset, batchBases(t, u.RecordBatches))
	}
	if c, u := listLatest(ctx, t, raw, topic, 1), listLatest(ctx, t, raw, topic, 0); c != 0 || u != 4 {
		t.Fatalf("ListOffsets latest: committed %d, uncommitted %d; want 0, 4", c, u)
	}
	if c, u := listOffsetAt(ctx, t, raw, topic, 0, 1), listOffsetAt(ctx, t, raw, topic, 0, 0); c != -1 || u != 0 {
		t.Fatalf("ListOffsets at timestamp 0: committed %d, uncommitted %d; want -1 (nothing stable), 0", c, u)
	}
	if got := describeProducers(ctx, t, raw, topic); got[pa] != [2]int64{0, 0} || got[pb] != [2]int64{0, 2} || got[5000] != [2]int64{0, -1} {
		t.Fatalf("DescribeProducers: %v", got)
	}

	// The coordinator aborts A with a bumped epoch (as when it fences a
	// timed-out or replaced producer).
	if code := writeMarker(ctx, t, raw, topic, pa, 1, 0, false); code != 0 {
		t.Fatalf("abort marker: %v", kerr.ErrorForCode(code))
	}
	f = fetchPartition(ctx, t, raw, topic, id, 0, 1)
	if f.HighWatermark != 5 || f.LastStableOffset != 2 || !reflect.DeepEqual(batchBases(t, f.RecordBatches), []int64{0}) {
		t.Fatalf("after A's abort: HW %d LSO %d batches %v; want 5, 2, [0]", f.HighWatermark, f.LastStableOffset, batchBases(t, f.RecordBatches))
	}
	if len(f.AbortedTransactions) != 1 || f.AbortedTransactions[0].ProducerID != pa || f.AbortedTransactions[0].FirstOffset != 0 {
		t.Fatalf("aborted transactions %+v, want A's from 0", f.AbortedTransactions)
	}
	step("A's zombie write at the old epoch", txnBatch(t, pa, 0, 2, "zombie"), kerr.InvalidProducerEpoch, 0)
	if code := writeMarker(ctx, t, raw, topic, pa, 0, 0, true); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("stale marker: %v, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(code))
	}
	if code := writeMarker(ctx, t, raw, topic, pb, 0, 3, true); code != 0 {
		t.Fatalf("commit marker: %v", kerr.ErrorForCode(code))
	}
	if code := writeMarker(ctx, t, raw, topic, pb, 0, 2, false); code != kerr.TransactionCoordinatorFenced.Code {
		t.Fatalf("marker from an older coordinator: %v, want TRANSACTION_COORDINATOR_FENCED", kerr.ErrorForCode(code))
	}
	step("C opens a transaction", txnBatch(t, pc, 0, 0, "c1"), nil, 6)
	step("B's next transaction", txnBatch(t, pb, 0, 1, "b2"), nil, 7)
	if code := writeMarker(ctx, t, raw, topic, pb, 0, 3, false); code != 0 {
		t.Fatalf("abort marker for B: %v", kerr.ErrorForCode(code))
	}
	// Log: a1 a2 | b1 | plain | abort(A) | commit(B) | c1 | b2 | abort(B).
	const end = 9
	check := func(when string) {
		t.Helper()
		f := fetchPartition(ctx, t, raw, topic, id, 0, 1)
		if f.HighWatermark != end || f.LastStableOffset != 6 {
			t.Fatalf("%s: HW %d LSO %d, want %d and C's first offset 6", when, f.HighWatermark, f.LastStableOffset, end)
		}
		if got := describeProducers(ctx, t, raw, topic); got[pa] != [2]int64{1, -1} || got[pb] != [2]int64{0, -1} || got[pc] != [2]int64{0, 6} {
			t.Fatalf("%s: DescribeProducers %v", when, got)
		}
		if code := writeMarker(ctx, t, raw, topic, pc, 0, 3, true); code != 0 {
			t.Fatalf("%s: commit C: %v", when, kerr.ErrorForCode(code))
		}
		got := consumeAll(ctx, t, tb.addr, topic, true, 3)
		sort.Strings(got)
		if want := []string{"b1", "c1", "p5000-e0-s0"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: read_committed consumer got %q, want %q", when, got, want)
		}
		all := consumeAll(ctx, t, tb.addr, topic, false, 6)
		if len(all) != 6 {
			t.Fatalf("%s: read_uncommitted consumer got %q, want all 6 data records", when, all)
		}
		f = fetchPartition(ctx, t, raw, topic, id, 0, 1)
		var aborted []string
		for _, a := range f.AbortedTransactions {
			aborted = append(aborted, fmt.Sprintf("%d@%d", a.ProducerID, a.FirstOffset))
		}
		if want := []string{"1000@0", "2000@7"}; !reflect.DeepEqual(aborted, want) {
			t.Fatalf("%s: aborted transactions %v, want %v", when, aborted, want)
		}
	}
	check("live")
	tb.stop()
	// After a restart the state is rebuilt from the log and the producer
	// snapshot: everything is committed or aborted, A is still fenced, and
	// a transaction left open across the next restart stays open.
	tb = startBroker(t, dir)
	raw = newClient(t, tb.addr)
	f = fetchPartition(ctx, t, raw, topic, id, 0, 1)
	if f.HighWatermark != end+1 || f.LastStableOffset != end+1 || len(f.AbortedTransactions) != 2 {
		t.Fatalf("after restart: HW %d LSO %d aborted %+v", f.HighWatermark, f.LastStableOffset, f.AbortedTransactions)
	}
	step("after restart, A is still fenced", txnBatch(t, pa, 0, 2, "zombie"), kerr.InvalidProducerEpoch, 0)
	step("D opens a transaction", txnBatch(t, 4000, 0, 0, "d1"), nil, end+1)
	tb.stop()
	tb = startBroker(t, dir)
	raw = newClient(t, tb.addr)
	if f := fetchPartition(ctx, t, raw, topic, id, 0, 1); f.LastStableOffset != end+1 || f.HighWatermark != end+2 {
		t.Fatalf("an open transaction across a restart: HW %d LSO %d, want %d and %d", f.HighWatermark, f.LastStableOffset, end+2, end+1)
	}
	if got := describeProducers(ctx, t, raw, topic); got[4000] != [2]int64{0, end + 1} {
		t.Fatalf("after restart, DescribeProducers %v", got)
	}
}
