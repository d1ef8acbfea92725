package handler

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/records"
)

// fakeTxns is a Transactions finalizing a transaction.version level; its
// request methods are never reached by these tests except EndTxn.
type fakeTxns struct {
	level int16
	ends  int
}

func (f *fakeTxns) NextProducerID() (int64, error) { return 1, nil }
func (f *fakeTxns) FinalizedTransactionVersion() (int16, int64) {
	return f.level, 42
}
func (f *fakeTxns) InitProducerID(_ context.Context, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	return req.ResponseKind().(*kmsg.InitProducerIDResponse)
}
func (f *fakeTxns) AddPartitionsToTxn(_ context.Context, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	return req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
}
func (f *fakeTxns) AddOffsetsToTxn(_ context.Context, req *kmsg.AddOffsetsToTxnRequest) *kmsg.AddOffsetsToTxnResponse {
	return req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
}
func (f *fakeTxns) EndTxn(_ context.Context, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse {
	f.ends++
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
	return resp
}
func (f *fakeTxns) DescribeTransactions(_ context.Context, req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse {
	return req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
}
func (f *fakeTxns) ListTransactions(_ context.Context, req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse {
	return req.ResponseKind().(*kmsg.ListTransactionsResponse)
}

// ApiVersions finalizes the coordinator's transaction.version; v5 of
// EndTxn, AddPartitionsToTxn and TxnOffsetCommit is listed at level 2
// only, and served at both levels as Kafka 4.1 serves it: by the
// request's version.
func TestApiVersionsTransactionVersion(t *testing.T) {
	for _, level := range []int16{1, 2} {
		f := &fakeTxns{level: level}
		s, _ := newTopicServer(t, Config{ProducerIDs: f})
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 4
		r, err := s.Dispatch(context.Background(), &Conn{}, req)
		if err != nil {
			t.Fatal(err)
		}
		resp := r.(*kmsg.ApiVersionsResponse)
		if len(resp.SupportedFeatures) != 1 || resp.SupportedFeatures[0].Name != "transaction.version" ||
			resp.SupportedFeatures[0].MinVersion != 0 || resp.SupportedFeatures[0].MaxVersion != 2 {
			t.Errorf("level %d: supported features %+v", level, resp.SupportedFeatures)
		}
		if len(resp.FinalizedFeatures) != 1 || resp.FinalizedFeatures[0].MaxVersionLevel != level ||
			resp.FinalizedFeatures[0].MinVersionLevel != level || resp.FinalizedFeaturesEpoch != 42 {
			t.Errorf("level %d: finalized features %+v epoch %d", level, resp.FinalizedFeatures, resp.FinalizedFeaturesEpoch)
		}
		// Listed up to v5 at every level, as Kafka lists them.
		tv2Keys := map[int16]bool{int16(kmsg.AddPartitionsToTxn): true, int16(kmsg.EndTxn): true, int16(kmsg.TxnOffsetCommit): true}
		for _, k := range resp.ApiKeys {
			if tv2Keys[k.ApiKey] && k.MaxVersion != 5 {
				t.Errorf("level %d: key %d listed up to v%d, want v5", level, k.ApiKey, k.MaxVersion)
			}
		}
		end := kmsg.NewPtrEndTxnRequest()
		end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch = 5, "tx", 7, 3
		r, err = s.Dispatch(context.Background(), &Conn{}, end)
		if err != nil {
			t.Fatal(err)
		}
		er := r.(*kmsg.EndTxnResponse)
		if er.ErrorCode != 0 || er.ProducerEpoch != 4 || f.ends != 1 {
			t.Errorf("level %d: EndTxn v5 answered %v epoch %d (coordinator called %d times)", level, kerr.ErrorForCode(er.ErrorCode), er.ProducerEpoch, f.ends)
		}
	}
	// No transaction coordinator: no features.
	s, _ := newTopicServer(t, Config{})
	r, err := s.Dispatch(context.Background(), &Conn{}, kmsg.NewPtrApiVersionsRequest())
	if err != nil {
		t.Fatal(err)
	}
	if resp := r.(*kmsg.ApiVersionsResponse); len(resp.FinalizedFeatures)+len(resp.SupportedFeatures) != 0 {
		t.Errorf("features without a coordinator: %+v %+v", resp.SupportedFeatures, resp.FinalizedFeatures)
	}
}

// KIP-890 part 2 in the produce path: at level 2 every Produce v12 batch
// asks the hook to add (ProduceAddsTxnPartition), also while its
// producer's transaction is open here (the coordinator alone can tell the
// next transaction at the same epoch from the open one); a refused batch
// is not appended. Produce v11 only verifies, once per open transaction.
func TestProduceAddsTxnPartition(t *testing.T) {
	type ask struct {
		epoch int16
		add   bool
	}
	var asked []ask
	cfg := Config{ProducerIDs: &fakeTxns{level: 2}, VerifyTxnPartition: func(ctx context.Context, _ string, _ int64, epoch int16, _ string, _ int32) error {
		asked = append(asked, ask{epoch, ProduceAddsTxnPartition(ctx)})
		if epoch == 1 {
			return kerr.NotEnoughReplicas // the previous transaction's markers are not written yet
		}
		return nil
	}}
	s, _ := newTopicServer(t, cfg)
	produce := func(version int16, pid int64, epoch int16, seq int32) int16 {
		opts := records.DefaultBuildOptions()
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence, opts.Transactional = pid, epoch, seq, true
		batch, err := records.Build(opts, records.CodecNone, []records.Record{{Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrProduceRequest()
		txnID := "tx"
		req.Version, req.Acks, req.TimeoutMillis, req.TransactionID = version, 1, 1000, &txnID
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
		r, err := s.Dispatch(context.Background(), &Conn{}, req)
		if err != nil {
			t.Fatal(err)
		}
		return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	for i, c := range []struct {
		version int16
		pid     int64
		epoch   int16
		seq     int32
		code    int16
	}{
		{12, 5, 0, 0, 0}, // added
		{12, 5, 0, 1, 0}, // same transaction: asked again
		{12, 5, 1, 0, kerr.NotEnoughReplicas.Code}, // next epoch while epoch 0's transaction is open: asked, waits
		{11, 6, 0, 0, 0}, // Produce v11: verified, not added
		{11, 6, 0, 1, 0}, // its open transaction: not asked again
	} {
		if code := produce(c.version, c.pid, c.epoch, c.seq); code != c.code {
			t.Errorf("batch %d: %v, want %v", i, kerr.ErrorForCode(code), kerr.ErrorForCode(c.code))
		}
	}
	want := []ask{{0, true}, {0, true}, {1, true}, {0, false}}
	if len(asked) != len(want) {
		t.Fatalf("hook asked %+v, want %+v", asked, want)
	}
	for i := range want {
		if asked[i] != want[i] {
			t.Errorf("hook call %d: %+v, want %+v", i, asked[i], want[i])
		}
	}
}
