package handler_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker"
	"github.com/highwater-io/highwater/broker/internal/records"
)

// testBroker is an in-process broker on 127.0.0.1 serving dir.
type testBroker struct {
	b    *broker.Broker
	addr string
	stop func()
}

func startBroker(t *testing.T, dir string) *testBroker {
	t.Helper()
	b, err := broker.New(broker.Config{
		Properties: map[string]string{
			"log.dirs":                         dir,
			"listeners":                        "PLAINTEXT://127.0.0.1:0",
			"offsets.topic.replication.factor": "1",
			"group.initial.rebalance.delay.ms": "0",
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	tb := &testBroker{b: b, addr: b.Addr().String()}
	stopped := false
	tb.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("broker did not stop within 10s")
		}
		if err := b.Close(); err != nil {
			t.Errorf("closing broker: %v", err)
		}
	}
	t.Cleanup(tb.stop)
	return tb
}

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(2)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func initProducerID(ctx context.Context, t *testing.T, cl *kgo.Client) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.ProducerID, req.ProducerEpoch = -1, -1
	req.TransactionTimeoutMillis = 60_000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("InitProducerId: %v", err)
	}
	return resp.ProducerID, resp.ProducerEpoch
}

// idemBatch builds an idempotent batch of n records.
func idemBatch(t *testing.T, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	opts := records.DefaultBuildOptions()
	opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = pid, epoch, seq
	opts.FirstTimestamp = time.Now().UnixMilli()
	recs := make([]records.Record, n)
	for i := range recs {
		recs[i] = records.Record{OffsetDelta: int32(i), Value: fmt.Appendf(nil, "p%d-e%d-s%d", pid, epoch, seq+int32(i))}
	}
	b, err := records.Build(opts, records.CodecNone, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// produceRaw sends one batch to partition 0 and returns the partition answer.
func produceRaw(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, id [16]byte, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 0, append([]byte(nil), batch...)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response shape: %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

func endOffset(ctx context.Context, t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	offs, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offs.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s-0: %+v", topic, o)
	}
	return o.Offset
}

func createTopic(ctx context.Context, t *testing.T, adm *kadm.Client, topic string) [16]byte {
	t.Helper()
	resp, err := adm.CreateTopic(ctx, 1, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
	return resp.ID
}

func wantCode(t *testing.T, what string, got kmsg.ProduceResponseTopicPartition, want *kerr.Error) {
	t.Helper()
	if err := kerr.ErrorForCode(got.ErrorCode); !errors.Is(err, want) {
		t.Fatalf("%s: got error %v (base offset %d), want %v", what, err, got.BaseOffset, want)
	}
}

// TestIdempotentProduce: a franz-go producer (idempotent by default) gets
// a producer id and produces; a replayed batch is deduplicated to its
// original offset, before and after a restart; gaps, stale epochs and
// epoch bumps are answered as Kafka does; producer ids are never reused.
func TestIdempotentProduce(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir)
	ctx := testCtx(t)
	raw := newClient(t, tb.addr)
	adm := kadm.NewClient(raw)
	const topic = "idem"
	topicID := createTopic(ctx, t, adm, topic)

	// A stock franz-go producer: idempotent unless told otherwise.
	prod := newClient(t, tb.addr, kgo.DefaultProduceTopic(topic))
	for i := 0; i < 20; i++ {
		if err := prod.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatalf("franz-go produce %d: %v", i, err)
		}
	}
	prod.Close()
	if got := endOffset(ctx, t, adm, topic); got != 20 {
		t.Fatalf("after 20 idempotent produces the end offset is %d", got)
	}

	pid, epoch := initProducerID(ctx, t, raw)
	pid2, _ := initProducerID(ctx, t, raw)
	if pid == 0 {
		t.Fatal("franz-go produced without taking producer id 0: it fell back to non-idempotent producing")
	}
	if epoch != 0 || pid2 == pid {
		t.Fatalf("InitProducerId gave (%d, %d) then %d: want epoch 0 and a fresh id", pid, epoch, pid2)
	}

	first := idemBatch(t, pid, 0, 0, 3)
	second := idemBatch(t, pid, 0, 3, 2)
	if r := produceRaw(ctx, t, raw, topic, topicID, first); r.ErrorCode != 0 || r.BaseOffset != 20 {
		t.Fatalf("first batch: %+v", r)
	}
	if r := produceRaw(ctx, t, raw, topic, topicID, second); r.ErrorCode != 0 || r.BaseOffset != 23 {
		t.Fatalf("second batch: %+v", r)
	}
	for _, replay := range []struct {
		batch []byte
		base  int64
	}{{second, 23}, {first, 20}} {
		if r := produceRaw(ctx, t, raw, topic, topicID, replay.batch); r.ErrorCode != 0 || r.BaseOffset != replay.base {
			t.Fatalf("replayed batch: got %+v, want base offset %d and no error", r, replay.base)
		}
	}
	if got := endOffset(ctx, t, adm, topic); got != 25 {
		t.Fatalf("replays were appended: end offset %d, want 25", got)
	}
	wantCode(t, "sequence gap", produceRaw(ctx, t, raw, topic, topicID, idemBatch(t, pid, 0, 6, 1)), kerr.OutOfOrderSequenceNumber)
	wantCode(t, "new epoch not at 0", produceRaw(ctx, t, raw, topic, topicID, idemBatch(t, pid, 1, 5, 1)), kerr.OutOfOrderSequenceNumber)

	// Restart on the same directory: the state is rebuilt from the log.
	raw.Close()
	tb.stop()
	tb = startBroker(t, dir)
	raw = newClient(t, tb.addr)
	adm = kadm.NewClient(raw)
	if r := produceRaw(ctx, t, raw, topic, topicID, second); r.ErrorCode != 0 || r.BaseOffset != 23 {
		t.Fatalf("replay after restart: got %+v, want base offset 23 and no error", r)
	}
	if got := endOffset(ctx, t, adm, topic); got != 25 {
		t.Fatalf("replay after restart was appended: end offset %d, want 25", got)
	}
	wantCode(t, "gap after restart", produceRaw(ctx, t, raw, topic, topicID, idemBatch(t, pid, 0, 9, 1)), kerr.OutOfOrderSequenceNumber)
	if r := produceRaw(ctx, t, raw, topic, topicID, idemBatch(t, pid, 0, 5, 1)); r.ErrorCode != 0 || r.BaseOffset != 25 {
		t.Fatalf("next in sequence after restart: %+v", r)
	}

	// KIP-360 local epoch bump: a new epoch starts at sequence 0 and
	// fences the old one.
	if r := produceRaw(ctx, t, raw, topic, topicID, idemBatch(t, pid, 1, 0, 1)); r.ErrorCode != 0 || r.BaseOffset != 26 {
		t.Fatalf("epoch bump: %+v", r)
	}
	wantCode(t, "stale epoch", produceRaw(ctx, t, raw, topic, topicID, idemBatch(t, pid, 0, 6, 1)), kerr.InvalidProducerEpoch)

	// Ids handed out before the restart are never handed out again.
	pid3, _ := initProducerID(ctx, t, raw)
	if pid3 <= pid2 {
		t.Fatalf("producer id %d after restart reuses the range up to %d", pid3, pid2)
	}
}

func TestInitProducerIDRefusals(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	ctx := testCtx(t)
	raw := newClient(t, tb.addr)
	txn := "my-txn"
	empty := ""
	for _, tc := range []struct {
		name   string
		txnID  *string
		pid    int64
		epoch  int16
		expect *kerr.Error
	}{
		{"transactional id without a timeout", &txn, -1, -1, kerr.InvalidTransactionTimeout},
		{"empty transactional id", &empty, -1, -1, kerr.InvalidRequest},
		{"id without epoch", nil, 5, -1, kerr.InvalidRequest},
		{"existing id and epoch get a fresh id", nil, 5, 3, nil},
	} {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = tc.txnID, tc.pid, tc.epoch
		resp, err := req.RequestWith(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		got := kerr.ErrorForCode(resp.ErrorCode)
		if tc.expect == nil && (got != nil || resp.ProducerEpoch != 0 || resp.ProducerID == tc.pid) {
			t.Fatalf("%s: %v id %d epoch %d", tc.name, got, resp.ProducerID, resp.ProducerEpoch)
		}
		if tc.expect != nil && (!errors.Is(got, tc.expect) || resp.ProducerID != -1) {
			t.Fatalf("%s: got %v id %d, want %v", tc.name, got, resp.ProducerID, tc.expect)
		}
	}

	// A franz-go transactional producer works (the transaction
	// coordinator's own tests are in package broker and txn).
	cl := newClient(t, tb.addr, kgo.TransactionalID("tx"), kgo.DefaultProduceTopic("t"), kgo.AllowAutoTopicCreation())
	err := cl.BeginTransaction()
	if err == nil {
		err = cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr()
	}
	if err == nil {
		err = cl.EndTransaction(ctx, kgo.TryCommit)
	}
	if err != nil {
		t.Fatalf("transactional producer: %v", err)
	}
}
