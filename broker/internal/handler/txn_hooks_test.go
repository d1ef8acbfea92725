package handler

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/broker/internal/partlog"
	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/broker/internal/topics"
	"github.com/highwater-io/highwater/internal/vfs"
)

// newTopicServer is a single-node Server over an in-memory catalogue
// holding topic "t" and __consumer_offsets, one partition each.
func newTopicServer(t *testing.T, cfg Config) (*Server, *topics.Catalog) {
	t.Helper()
	b, _, err := config.NewBroker(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := topics.Open(topics.Options{FS: vfs.NewMem(), Dir: "/data", Broker: b, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	for _, name := range []string{"t", consumerOffsetsTopic} {
		if _, err := cat.Create(name, 1, nil, name == consumerOffsetsTopic, false); err != nil {
			t.Fatal(err)
		}
	}
	cfg.NodeID, cfg.Broker, cfg.Topics, cfg.Now = 1, b, cat, time.Now
	return New(cfg), cat
}

func markersRequest(topic string, pid int64, epoch int16, commit bool) *kmsg.WriteTxnMarkersRequest {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = pid, epoch, commit
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{0, 7}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	return req
}

// The in-process API the transaction coordinator calls: markers land in
// the log (an unknown partition is answered per partition), and markers
// for __consumer_offsets go to the OnTxnMarker hook instead.
func TestWriteTxnMarkersInProcess(t *testing.T) {
	type call struct {
		topic  string
		pid    int64
		commit bool
	}
	var calls []call
	s, cat := newTopicServer(t, Config{OnTxnMarker: func(topic string, partition int32, pid int64, epoch int16, commit bool) {
		calls = append(calls, call{topic, pid, commit})
	}})
	tp, _ := cat.Get("t")
	p := tp.Partition(0)
	opts := records.DefaultBuildOptions()
	opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence, opts.Transactional = 9, 0, 0, true
	batch, err := records.Build(opts, records.CodecNone, []records.Record{{Value: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Append(batch); err != nil {
		t.Fatal(err)
	}
	if got := p.Log.FirstUnstableOffset(); got != 0 {
		t.Fatalf("first unstable %d, want 0", got)
	}
	resp := s.WriteTxnMarkers(context.Background(), markersRequest("t", 9, 0, false))
	parts := resp.Markers[0].Topics[0].Partitions
	if resp.Version != 1 || parts[0].ErrorCode != 0 || parts[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("response v%d %+v", resp.Version, parts)
	}
	if got, want := p.Log.AbortedTxns(0, 2), []partlog.AbortedTxn{{ProducerID: 9, FirstOffset: 0, LastOffset: 1, LastStableOffset: 2}}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("aborted %+v, want %+v", got, want)
	}
	resp = s.WriteTxnMarkers(context.Background(), markersRequest(consumerOffsetsTopic, 9, 0, true))
	if c := resp.Markers[0].Topics[0].Partitions[0].ErrorCode; c != 0 {
		t.Fatalf("__consumer_offsets marker: %v", kerr.ErrorForCode(c))
	}
	co, _ := cat.Get(consumerOffsetsTopic)
	if end := co.Partition(0).Log.EndOffset(); end != 0 {
		t.Fatalf("__consumer_offsets got a marker in its log (end offset %d)", end)
	}
	if len(calls) != 1 || calls[0] != (call{consumerOffsetsTopic, 9, true}) {
		t.Fatalf("OnTxnMarker calls %+v", calls)
	}
}

// KIP-392: the leader names another replica for a consumer in a rack the
// hook maps elsewhere, and serves records otherwise.
func TestPreferredReadReplica(t *testing.T) {
	var asked []string
	s, cat := newTopicServer(t, Config{PreferredReadReplica: func(topic string, partition int32, rack string) int32 {
		asked = append(asked, rack)
		if rack == "far" {
			return 3
		}
		return 1 // this node
	}})
	tp, _ := cat.Get("t")
	batch, err := records.Build(records.DefaultBuildOptions(), records.CodecNone, []records.Record{{Value: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Partition(0).Append(batch); err != nil {
		t.Fatal(err)
	}
	fetch := func(version int16, rack string) kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxBytes, req.SessionEpoch, req.Rack = version, -1, 1<<20, -1, rack
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "t", tp.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := s.Dispatch(context.Background(), &Conn{}, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
	}
	if p := fetch(12, "far"); p.PreferredReadReplica != 3 || len(p.RecordBatches) != 0 || p.HighWatermark != 1 || p.LastStableOffset != 1 {
		t.Fatalf("far rack: %+v", p)
	}
	if p := fetch(12, "near"); p.PreferredReadReplica != -1 || len(p.RecordBatches) == 0 {
		t.Fatalf("near rack: preferred %d, %d bytes", p.PreferredReadReplica, len(p.RecordBatches))
	}
	if p := fetch(12, ""); p.PreferredReadReplica != -1 || len(p.RecordBatches) == 0 {
		t.Fatalf("no rack: %+v", p)
	}
	if p := fetch(10, "far"); p.PreferredReadReplica != -1 || len(p.RecordBatches) == 0 {
		t.Fatalf("v10 (before KIP-392): %+v", p)
	}
	if len(asked) != 2 {
		t.Fatalf("hook asked for racks %q, want only the two v11+ fetches with a rack", asked)
	}
}

// KIP-890 part 1: the first transactional batch of a producer's
// transaction in a partition is verified with the coordinator hook; later
// batches of the same open transaction are not asked about again.
func TestVerifyTxnPartition(t *testing.T) {
	var asked []int64
	s, cat := newTopicServer(t, Config{VerifyTxnPartition: func(_ context.Context, txnID string, pid int64, epoch int16, topic string, partition int32) error {
		asked = append(asked, pid)
		switch {
		case txnID != "tx" || topic != "t" || partition != 0:
			return kerr.InvalidRequest
		case pid == 1:
			return errors.New("not added to the transaction")
		case pid == 2:
			return kerr.ConcurrentTransactions
		}
		return nil
	}})
	tp, _ := cat.Get("t")
	produce := func(pid int64, seq int32) int16 {
		opts := records.DefaultBuildOptions()
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence, opts.Transactional = pid, 0, seq, true
		batch, err := records.Build(opts, records.CodecNone, []records.Record{{Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrProduceRequest()
		txnID := "tx"
		req.Version, req.Acks, req.TimeoutMillis, req.TransactionID = 11, 1, 1000, &txnID // v11: part 1 verification (v12+ adds the partition)
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := s.Dispatch(context.Background(), &Conn{}, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := produce(1, 0); code != kerr.InvalidTxnState.Code {
		t.Fatalf("unverified partition: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
	if code := produce(2, 0); code != kerr.ConcurrentTransactions.Code {
		t.Fatalf("hook's own error: %v, want CONCURRENT_TRANSACTIONS", kerr.ErrorForCode(code))
	}
	if code := produce(3, 0); code != 0 {
		t.Fatalf("verified partition: %v", kerr.ErrorForCode(code))
	}
	if code := produce(3, 1); code != 0 {
		t.Fatalf("second batch of the open transaction: %v", kerr.ErrorForCode(code))
	}
	if end := tp.Partition(0).Log.EndOffset(); end != 2 {
		t.Fatalf("log end %d, want only producer 3's two batches", end)
	}
	if len(asked) != 3 {
		t.Fatalf("hook asked for producers %v, want 1, 2, 3 once each", asked)
	}
}

// A partition the coordinator says is outside the producer's transaction
// (TRANSACTION_ABORTABLE, KIP-890) is answered TRANSACTION_ABORTABLE from
// Produce v11, the version that added the code, and INVALID_TXN_STATE to
// older producers, as Kafka's partition leaders answer them.
func TestVerifyTxnPartitionAbortableByVersion(t *testing.T) {
	s, _ := newTopicServer(t, Config{VerifyTxnPartition: func(context.Context, string, int64, int16, string, int32) error {
		return kerr.TransactionAbortable
	}})
	for _, tc := range []struct {
		version int16
		want    *kerr.Error
	}{{3, kerr.InvalidTxnState}, {10, kerr.InvalidTxnState}, {11, kerr.TransactionAbortable}, {12, kerr.TransactionAbortable}} {
		opts := records.DefaultBuildOptions()
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence, opts.Transactional = 7, 0, 0, true
		batch, err := records.Build(opts, records.CodecNone, []records.Record{{Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrProduceRequest()
		txnID := "tx"
		req.Version, req.Acks, req.TimeoutMillis, req.TransactionID = tc.version, 1, 1000, &txnID
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := s.Dispatch(context.Background(), &Conn{}, req)
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != tc.want.Code {
			t.Errorf("Produce v%d: %v, want %v", tc.version, kerr.ErrorForCode(code), tc.want)
		}
	}
}
