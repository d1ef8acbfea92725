package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"go.uber.org/goleak"

	"github.com/highwater-io/highwater/broker/internal/records"
)

// txnTestVersion, when set, is the highwater.transaction.version of the
// brokers startTxnBroker starts (TestTxnV1 and TestTxnV2 run the tests
// at each level; unset: the default).
var txnTestVersion string

// seedList splits a comma-separated list of broker addresses (the
// helpers below take one string for a node or a cluster).
func seedList(addrs string) []string { return strings.Split(addrs, ",") }

// startTxnBroker runs a single-node broker on dir; stop shuts it down
// cleanly (Run returns, Close).
func startTxnBroker(t testing.TB, dir string) (addr string, stop func()) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Properties = props(dir, "offsets.topic.num.partitions", "3", "transaction.state.log.num.partitions", "3",
		"group.initial.rebalance.delay.ms", "0", "transaction.abort.timed.out.transaction.cleanup.interval.ms", "200")
	if txnTestVersion != "" {
		cfg.Properties["highwater.transaction.version"] = txnTestVersion
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- b.Run(ctx) }()
	stopped := false
	return b.Addr().String(), func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-ran
		b.Close()
	}
}

func createTopic(ctx context.Context, t testing.TB, addr, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seedList(addr)...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

func txnProducer(t testing.TB, addr, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seedList(addr)...), kgo.TransactionalID(id),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0),
		kgo.TransactionTimeout(20 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// produceTxn runs one transaction of n records spread over partitions,
// values prefix-0..n-1, and commits or aborts it.
func produceTxn(ctx context.Context, cl *kgo.Client, topic, prefix string, n int, partitions int32, commit bool) error {
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: []byte(prefix + "-" + strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		return err
	}
	return cl.EndTransaction(ctx, kgo.TransactionEndTry(commit))
}

// readCommitted reads topic from the start with read_committed until it
// has want records or quiet passes without new ones (to notice extras).
func readCommitted(ctx context.Context, t testing.TB, addr, topic string, want int) map[string]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seedList(addr)...), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]int{}
	total := 0
	deadline := time.Now().Add(15 * time.Second)
	var quietSince time.Time
	for time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		fs.EachError(func(tp string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("fetch %s-%d: %v", tp, p, err)
			}
		})
		got := 0
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++; got++ })
		total += got
		switch {
		case got > 0:
			quietSince = time.Time{}
		case total >= want && quietSince.IsZero():
			quietSince = time.Now()
		case total >= want && time.Since(quietSince) > 700*time.Millisecond:
			return seen
		}
	}
	return seen
}

func expectExactly(t testing.TB, seen map[string]int, want []string) {
	t.Helper()
	wantSet := map[string]bool{}
	for _, w := range want {
		wantSet[w] = true
		if seen[w] != 1 {
			t.Errorf("committed record %q seen %d times, want once", w, seen[w])
		}
	}
	for v, n := range seen {
		if !wantSet[v] {
			t.Errorf("read_committed returned %q (%d times), which no committed transaction wrote", v, n)
		}
	}
}

func values(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, prefix+"-"+strconv.Itoa(i))
	}
	return out
}

// A transactional producer commits and aborts across 3 partitions; a
// read_committed consumer sees exactly the committed records (no aborted
// read, nothing lost, nothing twice).
func TestTxnCommitAbortReadCommitted(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr, stop := startTxnBroker(t, t.TempDir())
	defer stop()
	createTopic(ctx, t, addr, "txn", 3)
	cl := txnProducer(t, addr, "tx-1")
	defer cl.Close()
	for i, commit := range []bool{true, false, true, false} {
		if err := produceTxn(ctx, cl, "txn", fmt.Sprintf("t%d", i), 10, 3, commit); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	expectExactly(t, readCommitted(ctx, t, addr, "txn", 20), append(values("t0", 10), values("t2", 10)...))

	adm := kadm.NewClient(cl)
	d, err := adm.DescribeTransactions(ctx, "tx-1")
	if err != nil || d["tx-1"].State != "CompleteAbort" {
		t.Errorf("DescribeTransactions: %v %+v", err, d["tx-1"])
	}
	l, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil || len(l.TransactionalIDs()) != 1 {
		t.Errorf("ListTransactions: %v %v", err, l.TransactionalIDs())
	}
}

// A second producer with the same transactional.id fences the first: the
// zombie's open transaction is aborted and its next request is refused
// with PRODUCER_FENCED / INVALID_PRODUCER_EPOCH.
func TestTxnZombieFenced(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr, stop := startTxnBroker(t, t.TempDir())
	defer stop()
	createTopic(ctx, t, addr, "fence", 3)
	zombie := txnProducer(t, addr, "tx-f")
	defer zombie.Close()
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Topic: "fence", Partition: 0, Value: []byte("zombie-0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fresh := txnProducer(t, addr, "tx-f")
	defer fresh.Close()
	if err := produceTxn(ctx, fresh, "fence", "fresh", 6, 3, true); err != nil {
		t.Fatalf("new producer: %v", err)
	}
	err := zombie.ProduceSync(ctx, &kgo.Record{Topic: "fence", Partition: 1, Value: []byte("zombie-1")}).FirstErr()
	if err == nil {
		err = zombie.EndTransaction(ctx, kgo.TryCommit)
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("zombie got %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	expectExactly(t, readCommitted(ctx, t, addr, "fence", 6), values("fresh", 6))
}

// consume-transform-produce with GroupTransactSession moves every input
// record to the output exactly once, offsets committed in the same
// transactions.
func TestTxnGroupTransactSessionExactlyOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	addr, stop := startTxnBroker(t, t.TempDir())
	defer stop()
	createTopic(ctx, t, addr, "in", 3)
	createTopic(ctx, t, addr, "out", 3)
	const n = 60
	plain, err := kgo.NewClient(kgo.SeedBrokers(seedList(addr)...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var in []*kgo.Record
	for i := range n {
		in = append(in, &kgo.Record{Topic: "in", Partition: int32(i % 3), Value: []byte("r-" + strconv.Itoa(i))})
	}
	if err := plain.ProduceSync(ctx, in...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	moved := ctpMove(ctx, t, addr, "eos-group", n/2, 10)
	moved += ctpMove(ctx, t, addr, "eos-group", n-moved, 7) // a second session resumes at the committed offsets
	if moved != n {
		t.Fatalf("moved %d records, want %d", moved, n)
	}
	expectExactly(t, readCommitted(ctx, t, addr, "out", n), values("r", n))
}

// ctpMove runs a GroupTransactSession until it has moved want records, in
// transactions of at most batch, and returns how many it moved.
func ctpMove(ctx context.Context, t testing.TB, addr, group string, want, batch int) int {
	t.Helper()
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(seedList(addr)...), kgo.TransactionalID("ctp-"+group),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics("in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0), kgo.TransactionTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	return ctpLoop(ctx, t, sess, want, batch)
}

// ctpLoop moves records from "in" to "out" through sess, in transactions
// of at most batch, until want moved or 40 s passed; it returns how many
// moved.
func ctpLoop(ctx context.Context, t testing.TB, sess *kgo.GroupTransactSession, want, batch int) int {
	t.Helper()
	moved := 0
	deadline := time.Now().Add(40 * time.Second)
	for moved < want && time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := sess.PollRecords(pctx, min(batch, want-moved))
		cancel()
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			sess.Produce(ctx, &kgo.Record{Topic: "out", Partition: r.Partition, Value: r.Value}, nil)
		}
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatalf("End: %v", err)
		}
		if committed {
			moved += len(recs)
		}
	}
	return moved
}

// A coordinator that stops while a transaction is in PrepareCommit (its
// markers not yet written) completes it after restart by re-sending them.
func TestTxnCoordinatorRestartCompletesPrepareCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	addr, stop := startTxnBroker(t, dir)
	defer stop()
	createTopic(ctx, t, addr, "restart", 3)
	cl := txnProducer(t, addr, "tx-r")
	holdMarkers.Store(true)
	defer holdMarkers.Store(false)
	if err := produceTxn(ctx, cl, "restart", "p", 10, 3, true); err != nil {
		t.Fatal(err)
	}
	d, err := kadm.NewClient(cl).DescribeTransactions(ctx, "tx-r")
	if err != nil || d["tx-r"].State != "PrepareCommit" {
		t.Fatalf("before restart: %v %+v", err, d["tx-r"])
	}
	cl.Close()
	stop()
	holdMarkers.Store(false)

	addr, stop2 := startTxnBroker(t, dir)
	defer stop2()
	expectExactly(t, readCommitted(ctx, t, addr, "restart", 10), values("p", 10))
	adm, err := kgo.NewClient(kgo.SeedBrokers(seedList(addr)...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	eventually(ctx, t, "CompleteCommit after restart", func() error {
		d, err := kadm.NewClient(adm).DescribeTransactions(ctx, "tx-r")
		if err != nil {
			return err
		}
		if st := d["tx-r"].State; st != "CompleteCommit" {
			return fmt.Errorf("state %s", st)
		}
		return nil
	})
}

// transaction.timeout.ms: a producer that stalls mid-transaction has it
// aborted by the coordinator (its epoch bumped: the zombie is fenced), and
// the last stable offset moves on, so read_committed consumers see the
// transactions committed after it.
func TestTxnTimeoutAbortsStalledTransaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr, stop := startTxnBroker(t, t.TempDir())
	defer stop()
	createTopic(ctx, t, addr, "stall", 3)
	stalled := txnProducer(t, addr, "tx-stall", kgo.TransactionTimeout(time.Second))
	defer stalled.Close()
	if err := stalled.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := stalled.ProduceSync(ctx, &kgo.Record{Topic: "stall", Partition: 0, Value: []byte("stalled")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	other := txnProducer(t, addr, "tx-other")
	defer other.Close()
	if err := produceTxn(ctx, other, "stall", "after", 6, 3, true); err != nil {
		t.Fatal(err)
	}
	// The stalled transaction holds partition 0's LSO until the
	// coordinator aborts it (timeout 1 s, checked every 200 ms).
	expectExactly(t, readCommitted(ctx, t, addr, "stall", 6), values("after", 6))
	err := stalled.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("the timed-out producer's commit got %v, want fenced", err)
	}
}

// KIP-890 part 1: a transactional batch for a partition its producer never
// added to the transaction is refused after asking the coordinator
// (TRANSACTION_ABORTABLE from Produce v11, INVALID_TXN_STATE before); once
// added (AddPartitionsToTxn) the same batch is accepted; a fenced epoch is
// INVALID_PRODUCER_EPOCH.
func TestTxnProduceVerifiedWithCoordinator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr, stop := startTxnBroker(t, t.TempDir())
	defer stop()
	createTopic(ctx, t, addr, "verify", 1)
	// Produce v12 and below name topics by name.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(kversion.V3_9_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	id := "tx-v"
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = &id, 10000
	ir, err := init.RequestWith(ctx, cl)
	if err != nil || ir.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %v", err, kerr.ErrorForCode(ir.ErrorCode))
	}
	produce := func(version, epoch int16) error {
		opts := records.DefaultBuildOptions()
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence, opts.Transactional = ir.ProducerID, epoch, 0, true
		opts.FirstTimestamp = time.Now().UnixMilli()
		batch, err := records.Build(opts, records.CodecNone, []records.Record{{Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrProduceRequest()
		req.TransactionID, req.Acks, req.TimeoutMillis = &id, -1, 5000
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: "verify", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
		// The client sends its highest version the broker lists, capped.
		vs := kversion.V3_9_0()
		vs.SetMaxKeyVersion(int16(kmsg.Produce), version)
		pcl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(vs))
		if err != nil {
			t.Fatal(err)
		}
		defer pcl.Close()
		resp, err := req.RequestWith(ctx, pcl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version != version {
			t.Fatalf("Produce sent at v%d, want v%d", resp.Version, version)
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	if err := produce(11, ir.ProducerEpoch); !errors.Is(err, kerr.TransactionAbortable) {
		t.Fatalf("v11 batch for a partition not in the transaction: %v, want TRANSACTION_ABORTABLE", err)
	}
	if err := produce(10, ir.ProducerEpoch); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("v10 batch for a partition not in the transaction: %v, want INVALID_TXN_STATE", err)
	}
	if err := produce(11, ir.ProducerEpoch+1); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("batch with an unknown epoch: %v", err)
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, ir.ProducerID, ir.ProducerEpoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "verify", Partitions: []int32{0}}}
	if ar, err := add.RequestWith(ctx, cl); err != nil || ar.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("AddPartitionsToTxn: %v %+v", err, ar)
	}
	if err := produce(11, ir.ProducerEpoch); err != nil {
		t.Fatalf("batch for an added partition: %v", err)
	}
}

// BenchmarkTxnCommit10x3 measures transactions per second on a single
// node: each commits 10 records over 3 partitions.
func BenchmarkTxnCommit10x3(b *testing.B) {
	ctx := context.Background()
	addr, stop := startTxnBroker(b, b.TempDir())
	defer stop()
	createTopic(ctx, b, addr, "bench", 3)
	cl := txnProducer(b, addr, "tx-bench")
	defer cl.Close()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := produceTxn(ctx, cl, "bench", "b", 10, 3, true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "txn/s")
}
