package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTxnV2 runs the transaction tests with the broker finalizing
// transaction.version 2 (KIP-890 part 2), and checks franz-go really took
// the version 2 path there.
func TestTxnV2(t *testing.T) {
	txnTestVersion = "2"
	defer func() { txnTestVersion = "" }()
	t.Run("Path", testTxnV2Path)
	t.Run("CommitAbortReadCommitted", TestTxnCommitAbortReadCommitted)
	t.Run("ZombieFenced", TestTxnZombieFenced)
	t.Run("GroupTransactSession", TestTxnGroupTransactSessionExactlyOnce)
	t.Run("GroupTransactSessionPath", testTxnV2GroupPath)
	t.Run("CoordinatorRestart", TestTxnCoordinatorRestartCompletesPrepareCommit)
	t.Run("Timeout", TestTxnTimeoutAbortsStalledTransaction)
	t.Run("ProduceVerified", TestTxnProduceVerifiedWithCoordinator)
}

// TestTxnV1 runs the transaction tests with the broker finalizing
// transaction.version 1 (the protocol before KIP-890 part 2), which the
// default (2) no longer covers: clients add partitions themselves and
// EndTxn keeps the epoch.
func TestTxnV1(t *testing.T) {
	txnTestVersion = "1"
	defer func() { txnTestVersion = "" }()
	t.Run("CommitAbortReadCommitted", TestTxnCommitAbortReadCommitted)
	t.Run("ZombieFenced", TestTxnZombieFenced)
	t.Run("GroupTransactSession", TestTxnGroupTransactSessionExactlyOnce)
	t.Run("CoordinatorRestart", TestTxnCoordinatorRestartCompletesPrepareCommit)
	t.Run("Timeout", TestTxnTimeoutAbortsStalledTransaction)
	t.Run("ProduceVerified", TestTxnProduceVerifiedWithCoordinator)
	t.Run("OldPath", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		addr, stop := startTxnBroker(t, t.TempDir())
		defer stop()
		// EndTxn is listed up to v5 at level 1 too (as Kafka lists it);
		// franz-go still takes the old path from the finalized level.
		if sup, fin, _ := features(ctx, t, addr, 5); sup != 2 || fin != 1 {
			t.Fatalf("ApiVersions transaction.version: supported max %d, finalized %d; want 2, 1", sup, fin)
		}
		createTopic(ctx, t, addr, "v1", 3)
		cl := txnProducer(t, addr, "tx-v1")
		defer cl.Close()
		for i := range 3 {
			if err := produceTxn(ctx, cl, "v1", "t"+string(rune('0'+i)), 3, 3, true); err != nil {
				t.Fatal(err)
			}
		}
		d, err := kadm.NewClient(cl).DescribeTransactions(ctx, "tx-v1")
		if err != nil || d["tx-v1"].ProducerEpoch != 0 {
			t.Errorf("epoch after 3 transactions at level 1: %v %+v, want 0 (EndTxn keeps it)", err, d["tx-v1"])
		}
	})
	t.Run("EndTxnV5", testTxnV1EndTxnV5)
}

// At level 1 a v5 request is served by its version, the transaction version 2 way, as Kafka 4.1
// serves it: an abort with nothing open succeeds and bumps the epoch.
func testTxnV1EndTxnV5(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr, stop := startTxnBroker(t, t.TempDir())
	defer stop()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	id := "tx-v1-end5"
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = &id, 10000
	ir, err := init.RequestWith(ctx, cl)
	if err != nil || ir.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %v", err, ir)
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch = 5, id, ir.ProducerID, ir.ProducerEpoch
	resp := rawRoundTrip(t, addr, end).(*kmsg.EndTxnResponse)
	if resp.ErrorCode != 0 || resp.ProducerID != ir.ProducerID || resp.ProducerEpoch != ir.ProducerEpoch+1 {
		t.Fatalf("EndTxn v5 at level 1: %v id %d epoch %d, want no error, id %d epoch %d", kerr.ErrorForCode(resp.ErrorCode),
			resp.ProducerID, resp.ProducerEpoch, ir.ProducerID, ir.ProducerEpoch+1)
	}
}

// rawRoundTrip sends req at its version on a connection of its own,
// whatever the broker lists in ApiVersions, and decodes the answer.
func rawRoundTrip(t *testing.T, addr string, req kmsg.Request) kmsg.Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, 1)); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(conn, body); err != nil {
		t.Fatal(err)
	}
	body = body[4:] // correlation id
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() {
		body = body[1:] // an empty tagged-field section
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	return resp
}

// keyCounter counts the requests a client wrote, by API key.
type keyCounter struct {
	mu sync.Mutex
	n  map[int16]int
}

func (k *keyCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.n == nil {
		k.n = map[int16]int{}
	}
	k.n[key]++
}

func (k *keyCounter) reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.n = nil
}

func (k *keyCounter) get(key kmsg.Key) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n[int16(key)]
}

// features reads ApiVersions' transaction.version (supported max,
// finalized level, finalized epoch).
func features(ctx context.Context, t *testing.T, addr string, endTxnMax int16) (supportedMax, finalized int16, epoch int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range resp.SupportedFeatures {
		if f.Name == "transaction.version" {
			supportedMax = f.MaxVersion
		}
	}
	for _, f := range resp.FinalizedFeatures {
		if f.Name == "transaction.version" {
			finalized = f.MaxVersionLevel
		}
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == int16(kmsg.EndTxn) && k.MaxVersion != endTxnMax {
			t.Errorf("ApiVersions lists EndTxn up to v%d, want %d", k.MaxVersion, endTxnMax)
		}
	}
	return supportedMax, finalized, resp.FinalizedFeaturesEpoch
}

// At level 2 franz-go sends no AddPartitionsToTxn (the produce path adds
// the partitions), its EndTxn is v5 (the coordinator's epoch goes up by
// one per transaction, committed or aborted), and read_committed still
// sees exactly the committed records.
func testTxnV2Path(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr, stop := startTxnBroker(t, t.TempDir())
	defer stop()
	if sup, fin, ep := features(ctx, t, addr, 5); sup != 2 || fin != 2 || ep < 0 {
		t.Fatalf("ApiVersions transaction.version: supported max %d, finalized %d, epoch %d; want 2, 2, >= 0", sup, fin, ep)
	}
	createTopic(ctx, t, addr, "v2", 3)
	var hooks keyCounter
	cl := txnProducer(t, addr, "tx-v2", kgo.WithHooks(&hooks))
	defer cl.Close()
	// franz-go v1.22.3 opens its first connection to a broker with
	// ApiVersions v5; the KIP-511 answer (wire layer) lists every key, so
	// franz-go keeps that v0 answer, which has no features, and runs its
	// first transaction the old way. At that EndTxn it notices the
	// feature (learned on a later connection), re-inits its producer id
	// and opts in. Run that first transaction, then count.
	if err := produceTxn(ctx, cl, "v2", "warm", 3, 3, false); err != nil {
		t.Fatal(err)
	}
	hooks.reset()
	adm := kadm.NewClient(cl)
	epochOf := func() int16 {
		d, err := adm.DescribeTransactions(ctx, "tx-v2")
		if err != nil {
			t.Fatal(err)
		}
		return d["tx-v2"].ProducerEpoch
	}
	var epochs []int16
	for i, commit := range []bool{true, false, true, true, false} {
		if err := produceTxn(ctx, cl, "v2", "t"+string(rune('0'+i)), 9, 3, commit); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
		epochs = append(epochs, epochOf())
	}
	for i := 1; i < len(epochs); i++ {
		if epochs[i] != epochs[i-1]+1 {
			t.Errorf("producer epochs after each transaction %v: want one bump per EndTxn (v5)", epochs)
			break
		}
	}
	if n := hooks.get(kmsg.AddPartitionsToTxn); n != 0 {
		t.Errorf("the client sent %d AddPartitionsToTxn: it did not take the KIP-890 part 2 path", n)
	}
	if n := hooks.get(kmsg.EndTxn); n < 5 {
		t.Errorf("the client sent %d EndTxn, want 5", n)
	}
	expectExactly(t, readCommitted(ctx, t, addr, "v2", 27), append(append(values("t0", 9), values("t2", 9)...), values("t3", 9)...))

	// A zombie holding the previous epoch is fenced by the epoch alone.
	d, err := adm.DescribeTransactions(ctx, "tx-v2")
	if err != nil {
		t.Fatal(err)
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "tx-v2", d["tx-v2"].ProducerID, d["tx-v2"].ProducerEpoch-2, true
	resp, err := end.RequestWith(ctx, cl)
	if err != nil || !errors.Is(kerr.ErrorForCode(resp.ErrorCode), kerr.ProducerFenced) {
		t.Errorf("EndTxn from an epoch two transactions old: %v %v, want PRODUCER_FENCED", err, kerr.ErrorForCode(resp.ErrorCode))
	}
}

// GroupTransactSession at level 2: no AddPartitionsToTxn or
// AddOffsetsToTxn (TxnOffsetCommit v5 adds the offsets partition), and the
// consumed offsets commit with the transactions.
func testTxnV2GroupPath(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr, stop := startTxnBroker(t, t.TempDir())
	defer stop()
	createTopic(ctx, t, addr, "in", 3)
	createTopic(ctx, t, addr, "out", 3)
	plain, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var in []*kgo.Record
	for i := range 30 {
		in = append(in, &kgo.Record{Topic: "in", Partition: int32(i % 3), Value: []byte("r-" + string(rune('a'+i)))})
	}
	if err := plain.ProduceSync(ctx, in...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var hooks keyCounter
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(addr), kgo.TransactionalID("ctp-v2"), kgo.WithHooks(&hooks),
		kgo.ConsumerGroup("g-v2"), kgo.ConsumeTopics("in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0), kgo.TransactionTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	moved := ctpLoop(ctx, t, sess, 30, 7)
	if moved != 30 {
		t.Fatalf("moved %d, want 30", moved)
	}
	for _, k := range []kmsg.Key{kmsg.AddPartitionsToTxn, kmsg.AddOffsetsToTxn} {
		if n := hooks.get(k); n != 0 {
			t.Errorf("the session sent %d %s: not the KIP-890 part 2 path", n, k.Name())
		}
	}
	if hooks.get(kmsg.TxnOffsetCommit) == 0 {
		t.Error("no TxnOffsetCommit sent")
	}
	// The last commit's offsets materialize when its marker reaches the
	// group's partition, after EndTxn answered.
	eventually(ctx, t, "committed offsets sum to 30", func() error {
		offs, err := kadm.NewClient(plain).FetchOffsets(ctx, "g-v2")
		if err != nil {
			return err
		}
		var total int64
		offs.Each(func(o kadm.OffsetResponse) { total += o.At })
		if total != 30 {
			return fmt.Errorf("committed offsets sum to %d: %v", total, offs)
		}
		return nil
	})
	var want []string
	for _, r := range in {
		want = append(want, string(r.Value))
	}
	expectExactly(t, readCommitted(ctx, t, addr, "out", 30), want)
}
