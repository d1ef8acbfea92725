package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/highwater-io/highwater/broker/internal/group"
	"github.com/highwater-io/highwater/broker/internal/metadata"
	"github.com/highwater-io/highwater/broker/internal/txn"
)

// txnCoordinatorOf asks node id which node coordinates transactional id.
func (c *testCluster) txnCoordinatorOf(ctx context.Context, id int32, txnID string) (int32, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr(id)))
	if err != nil {
		return -1, err
	}
	defer cl.Close()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType, req.CoordinatorKeys = 1, []string{txnID}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return -1, err
	}
	co := resp.Coordinators[0]
	if err := kerr.ErrorForCode(co.ErrorCode); err != nil {
		return -1, err
	}
	return co.NodeID, nil
}

func startTxnCluster(ctx context.Context, t *testing.T) (*testCluster, string) {
	c := newTestCluster(t)
	c.extra = []string{"offsets.topic.num.partitions", "3", "transaction.state.log.num.partitions", "3",
		"group.initial.rebalance.delay.ms", "0"}
	if txnTestVersion != "" {
		c.extra = append(c.extra, "highwater.transaction.version", txnTestVersion)
	}
	for id := int32(1); id <= 3; id++ {
		c.start(id)
	}
	seeds := strings.Join([]string{c.addr(1), c.addr(2), c.addr(3)}, ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(seedList(seeds)...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, topic := range []string{"ctxn", "in", "out", "bench"} {
		eventually(ctx, t, "create "+topic, func() error {
			_, err := adm.CreateTopic(ctx, 3, 3, nil, topic)
			if errors.Is(err, kerr.TopicAlreadyExists) {
				return nil
			}
			return err
		})
	}
	return c, seeds
}

// On a 3-node cluster: transactions commit and abort over 3 partitions
// (read_committed sees exactly the committed records), a zombie is
// fenced, consume-transform-produce moves every record exactly once, and
// killing the transaction coordinator mid-transaction (once with the
// transaction open, once in PrepareCommit with its markers unsent) loses
// nothing: the new coordinator, the new leader of the id's
// __transaction_state partition, finishes it.
func TestClusterTransactions(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	c, seeds := startTxnCluster(ctx, t)
	defer c.close()

	cl := txnProducer(t, seeds, "ctx-1")
	for i, commit := range []bool{true, false, true} {
		if err := produceTxn(ctx, cl, "ctxn", fmt.Sprintf("c%d", i), 10, 3, commit); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	fresh := txnProducer(t, seeds, "ctx-1") // fences cl
	if err := produceTxn(ctx, fresh, "ctxn", "f", 3, 3, true); err != nil {
		t.Fatalf("new producer: %v", err)
	}
	err := produceTxn(ctx, cl, "ctxn", "zombie", 3, 3, true)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Errorf("zombie got %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	cl.Close()
	// The figure the issue asks for: commits of 10 records over 3
	// partitions per second (acks=all, RF 3), logged.
	const timed = 20
	start := time.Now()
	for i := range timed {
		if err := produceTxn(ctx, fresh, "bench", fmt.Sprintf("b%d", i), 10, 3, true); err != nil {
			t.Fatalf("timed transaction %d: %v", i, err)
		}
	}
	t.Logf("cluster of 3: %.1f transactions/s (10 records over 3 partitions each, RF 3)", timed/time.Since(start).Seconds())
	if txnTestVersion == "2" {
		// Transaction version 2: one epoch bump per EndTxn (v5).
		d, err := kadm.NewClient(fresh).DescribeTransactions(ctx, "ctx-1")
		if err != nil || d["ctx-1"].ProducerEpoch < timed {
			t.Errorf("after %d transactions of one producer the epoch is %d (%v): the client did not take the v2 path", timed, d["ctx-1"].ProducerEpoch, err)
		}
	}
	fresh.Close()
	want := append(append(values("c0", 10), values("c2", 10)...), values("f", 3)...)
	expectExactly(t, readCommitted(ctx, t, seeds, "ctxn", len(want)), want)

	// consume-transform-produce
	plain, err := kgo.NewClient(kgo.SeedBrokers(seedList(seeds)...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	var in []*kgo.Record
	for i := range 30 {
		in = append(in, &kgo.Record{Topic: "in", Partition: int32(i % 3), Value: []byte("r-" + strconv.Itoa(i))})
	}
	if err := plain.ProduceSync(ctx, in...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	plain.Close()
	if moved := ctpMove(ctx, t, seeds, "ceos", 30, 10); moved != 30 {
		t.Fatalf("moved %d of 30", moved)
	}
	expectExactly(t, readCommitted(ctx, t, seeds, "out", 30), values("r", 30))

	// The coordinator dies with a transaction open.
	co, err := c.txnCoordinatorOf(ctx, 1, "ctx-kill")
	if err != nil {
		t.Fatal(err)
	}
	k := txnProducer(t, seeds, "ctx-kill", kgo.RequiredAcks(kgo.AllISRAcks()))
	defer k.Close()
	if err := k.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var rs []*kgo.Record
	for i := range 9 {
		rs = append(rs, &kgo.Record{Topic: "ctxn", Partition: int32(i % 3), Value: []byte("k-" + strconv.Itoa(i))})
	}
	if err := k.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c.stopNode(co)
	if err := k.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit after the coordinator died: %v", err)
	}
	want = append(want, values("k", 9)...)
	expectExactly(t, readCommitted(ctx, t, seeds2(c), "ctxn", len(want)), want)
	c.start(co)

	// The coordinator dies in PrepareCommit, before any marker.
	co, err = c.txnCoordinatorOf(ctx, 1+co%3, "ctx-prep")
	if err != nil {
		t.Fatal(err)
	}
	p := txnProducer(t, seeds2(c), "ctx-prep", kgo.RequiredAcks(kgo.AllISRAcks()))
	holdMarkers.Store(true)
	defer holdMarkers.Store(false)
	if err := produceTxn(ctx, p, "ctxn", "p", 9, 3, true); err != nil {
		t.Fatal(err)
	}
	p.Close()
	c.stopNode(co)
	holdMarkers.Store(false)
	want = append(want, values("p", 9)...)
	expectExactly(t, readCommitted(ctx, t, seeds2(c), "ctxn", len(want)), want)
}

// seeds2 lists the running nodes.
func seeds2(c *testCluster) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, rb := range c.nodes {
		out = append(out, rb.b.Addr().String())
	}
	return strings.Join(out, ",")
}

// TestClusterTransactionsV2 is TestClusterTransactions with every node
// finalizing transaction.version 2: partition leaders add partitions for
// Produce v12 batches through the coordinator node (AddPartitionsToTxn
// v5), EndTxn v5 bumps the epoch, TxnOffsetCommit v5 adds the offsets
// partition, and the coordinator failovers still lose nothing.
func TestClusterTransactionsV2(t *testing.T) {
	txnTestVersion = "2"
	defer func() { txnTestVersion = "" }()
	TestClusterTransactions(t)
}

// loadingImage is an image where __consumer_offsets and
// __transaction_state have 3 partitions each, led by leaderOf(partition).
func loadingImage(t *testing.T, leaderOf func(int32) int32) metadata.Image {
	t.Helper()
	var img metadata.Image
	apply := func(r metadata.Record) {
		var err error
		if img, err = metadata.Apply(img, r); err != nil {
			t.Fatal(err)
		}
	}
	for i, name := range []string{offsetsTopic, txnStateTopic} {
		id := metadata.UUID{byte(i + 1)}
		apply(metadata.TopicRecord{Name: name, TopicID: id})
		for p := range int32(3) {
			apply(metadata.PartitionRecord{TopicID: id, PartitionID: p, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3},
				Leader: leaderOf(p)})
		}
	}
	return img
}

// coordinatorsAt are node 1's group and transaction routers with img as
// their newest image and no partition loaded: the state between the image
// making node 1 a leader and the driver registering the replayed Service.
func coordinatorsAt(img metadata.Image) (*clusterGroups, *clusterTxn) {
	c := &clusterNode{nodeID: 1}
	at := func() metadata.Image { return img }
	g := &clusterGroups{&internalTopic[*group.Service]{c: c, image: at, led: map[int32]*ledService[*group.Service]{},
		spec: internalTopicSpec[*group.Service]{name: offsetsTopic, partitionOf: GroupPartition}}}
	tx := &clusterTxn{internalTopic: &internalTopic[*txn.Service]{c: c, image: at, led: map[int32]*ledService[*txn.Service]{},
		spec: internalTopicSpec[*txn.Service]{name: txnStateTopic, partitionOf: TxnPartition}}}
	return g, tx
}

// While a coordinator partition loads on its new leader, the requests for
// its keys answer COORDINATOR_LOAD_IN_PROGRESS (the client retries the
// same node) where Kafka 4.1 does: TransactionStateManager for the
// transaction APIs (ListTransactions fails as a whole), the group
// coordinator runtime's LOADING state for the group APIs (ListGroups
// fails as a whole); Heartbeat succeeds blindly, as Kafka's does. Keys
// whose partition another node leads still answer NOT_COORDINATOR.
func TestClusterCoordinatorLoadingAnswersLoadInProgress(t *testing.T) {
	ctx := context.Background()
	type call struct {
		name  string
		do    func(*clusterGroups, *clusterTxn) kmsg.Response
		codes int // items carrying the refusal's code
	}
	calls := []call{
		{"JoinGroup", func(g *clusterGroups, _ *clusterTxn) kmsg.Response {
			return g.JoinGroup(ctx, &kmsg.JoinGroupRequest{Group: "g"})
		}, 1},
		{"SyncGroup", func(g *clusterGroups, _ *clusterTxn) kmsg.Response {
			return g.SyncGroup(ctx, &kmsg.SyncGroupRequest{Group: "g"})
		}, 1},
		{"LeaveGroup", func(g *clusterGroups, _ *clusterTxn) kmsg.Response {
			return g.LeaveGroup(ctx, &kmsg.LeaveGroupRequest{Group: "g"})
		}, 1},
		{"OffsetDelete", func(g *clusterGroups, _ *clusterTxn) kmsg.Response {
			return g.OffsetDelete(ctx, &kmsg.OffsetDeleteRequest{Group: "g"})
		}, 1},
		{"OffsetCommit", func(g *clusterGroups, _ *clusterTxn) kmsg.Response {
			return g.OffsetCommit(ctx, &kmsg.OffsetCommitRequest{Group: "g", Topics: []kmsg.OffsetCommitRequestTopic{
				{Topic: "a", Partitions: make([]kmsg.OffsetCommitRequestTopicPartition, 2)}}})
		}, 2},
		{"OffsetFetch v7", func(g *clusterGroups, _ *clusterTxn) kmsg.Response {
			return g.OffsetFetch(ctx, &kmsg.OffsetFetchRequest{Version: 7, Group: "g",
				Topics: []kmsg.OffsetFetchRequestTopic{{Topic: "a", Partitions: []int32{0, 1}}}})
		}, 3},
		{"OffsetFetch v8", func(g *clusterGroups, _ *clusterTxn) kmsg.Response {
			return g.OffsetFetch(ctx, &kmsg.OffsetFetchRequest{Version: 8, Groups: []kmsg.OffsetFetchRequestGroup{{Group: "g"}, {Group: "h"}}})
		}, 2},
		{"DescribeGroups", func(g *clusterGroups, _ *clusterTxn) kmsg.Response {
			return g.DescribeGroups(ctx, &kmsg.DescribeGroupsRequest{Groups: []string{"g", "h"}})
		}, 2},
		{"DeleteGroups", func(g *clusterGroups, _ *clusterTxn) kmsg.Response {
			return g.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Groups: []string{"g"}})
		}, 1},
		{"TxnOffsetCommit", func(g *clusterGroups, _ *clusterTxn) kmsg.Response {
			return g.TxnOffsetCommit(ctx, &kmsg.TxnOffsetCommitRequest{Group: "g", Topics: []kmsg.TxnOffsetCommitRequestTopic{
				{Topic: "a", Partitions: make([]kmsg.TxnOffsetCommitRequestTopicPartition, 2)}}})
		}, 2},
		{"InitProducerID", func(_ *clusterGroups, tx *clusterTxn) kmsg.Response {
			return tx.InitProducerID(ctx, &kmsg.InitProducerIDRequest{TransactionalID: kmsg.StringPtr("x")})
		}, 1},
		{"AddPartitionsToTxn v3", func(_ *clusterGroups, tx *clusterTxn) kmsg.Response {
			return tx.AddPartitionsToTxn(ctx, &kmsg.AddPartitionsToTxnRequest{Version: 3, TransactionalID: "x",
				Topics: []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "a", Partitions: []int32{0, 1}}}})
		}, 2},
		{"AddPartitionsToTxn v4", func(_ *clusterGroups, tx *clusterTxn) kmsg.Response {
			return tx.AddPartitionsToTxn(ctx, &kmsg.AddPartitionsToTxnRequest{Version: 4, Transactions: []kmsg.AddPartitionsToTxnRequestTransaction{
				{TransactionalID: "x", VerifyOnly: true, Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "a", Partitions: []int32{0}}}},
				{TransactionalID: "y", Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "b", Partitions: []int32{0}}}}}})
		}, 2},
		{"AddOffsetsToTxn", func(_ *clusterGroups, tx *clusterTxn) kmsg.Response {
			return tx.AddOffsetsToTxn(ctx, &kmsg.AddOffsetsToTxnRequest{TransactionalID: "x", Group: "g"})
		}, 1},
		{"EndTxn", func(_ *clusterGroups, tx *clusterTxn) kmsg.Response {
			return tx.EndTxn(ctx, &kmsg.EndTxnRequest{TransactionalID: "x"})
		}, 1},
		{"DescribeTransactions", func(_ *clusterGroups, tx *clusterTxn) kmsg.Response {
			return tx.DescribeTransactions(ctx, &kmsg.DescribeTransactionsRequest{TransactionalIDs: []string{"x", "y"}})
		}, 2},
	}
	for _, tc := range []struct {
		name   string
		leader int32 // of every partition
		want   int16
	}{
		{"loading here", 1, loadInProgress},
		{"led elsewhere", 2, notCoordinator},
	} {
		g, tx := coordinatorsAt(loadingImage(t, func(int32) int32 { return tc.leader }))
		for _, c := range calls {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				resp := c.do(g, tx)
				var codes []int16
				refusal(reflect.ValueOf(resp), &codes, map[string][]int64{})
				n := 0
				for _, code := range codes {
					switch code {
					case tc.want:
						n++
					case 0:
					default:
						t.Errorf("error code %d in %+v", code, resp)
					}
				}
				if n != c.codes {
					t.Errorf("%d items %s, want %d: %+v", n, kerr.ErrorForCode(tc.want), c.codes, resp)
				}
			})
		}
		t.Run(tc.name+"/Heartbeat", func(t *testing.T) {
			want := tc.want
			if want == loadInProgress {
				want = 0
			}
			if got := g.Heartbeat(ctx, &kmsg.HeartbeatRequest{Group: "g"}).ErrorCode; got != want {
				t.Errorf("Heartbeat answered %d, want %d", got, want)
			}
		})
		t.Run(tc.name+"/lists", func(t *testing.T) {
			want := tc.want
			if want == notCoordinator {
				want = 0 // nothing led here: an empty listing
			}
			if got := g.ListGroups(ctx, &kmsg.ListGroupsRequest{}).ErrorCode; got != want {
				t.Errorf("ListGroups answered %d, want %d", got, want)
			}
			if got := tx.ListTransactions(ctx, &kmsg.ListTransactionsRequest{}).ErrorCode; got != want {
				t.Errorf("ListTransactions answered %d, want %d", got, want)
			}
		})
	}

	// One partition loading here, the others led elsewhere: each id of a
	// batch gets its own partition's answer.
	_, tx := coordinatorsAt(loadingImage(t, func(p int32) int32 {
		if p == 0 {
			return 1
		}
		return 2
	}))
	var here, there string
	for i := 0; here == "" || there == ""; i++ {
		id := fmt.Sprintf("id-%d", i)
		if TxnPartition(id, 3) == 0 {
			here = cmp.Or(here, id)
		} else {
			there = cmp.Or(there, id)
		}
	}
	resp := tx.DescribeTransactions(ctx, &kmsg.DescribeTransactionsRequest{TransactionalIDs: []string{here, there}})
	if got := []int16{resp.TransactionStates[0].ErrorCode, resp.TransactionStates[1].ErrorCode}; !slices.Equal(got, []int16{loadInProgress, notCoordinator}) {
		t.Errorf("DescribeTransactions(%s loading here, %s led elsewhere) answered %v", here, there, got)
	}
}

// End to end on a 3-node cluster: while the leader of the transactional
// id's __transaction_state partition is still loading it (the load held),
// InitProducerId sent to it answers COORDINATOR_LOAD_IN_PROGRESS and
// ListTransactions fails with it; once the load finishes the same request
// succeeds.
func TestClusterTxnCoordinatorLoadInProgress(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	hold := make(chan struct{})
	holdTxnLoads.Store(&hold)
	released := false
	release := func() {
		if !released {
			released = true
			close(hold)
		}
	}
	defer holdTxnLoads.Store(nil)
	defer release()
	c := newTestCluster(t)
	c.extra = []string{"transaction.state.log.num.partitions", "1"}
	for id := int32(1); id <= 3; id++ {
		c.start(id)
	}
	defer c.close()

	const id = "loading"
	// direct sends req to the id's coordinator of the moment (found
	// through node 1), without franz-go's re-routing and retries.
	direct := func(req kmsg.Request) (kmsg.Response, error) {
		co, err := c.txnCoordinatorOf(ctx, 1, id)
		if err != nil {
			return nil, err
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr(co)), kgo.RequestRetries(0))
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return cl.SeedBrokers()[0].Request(rctx, req)
	}
	initPID := func() error {
		req := kmsg.NewPtrInitProducerIDRequest()
		txnID := id
		req.TransactionalID, req.TransactionTimeoutMillis = &txnID, 10000
		r, err := direct(req)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(r.(*kmsg.InitProducerIDResponse).ErrorCode)
	}
	// Until the topic exists and its leadership reaches the replication
	// driver: COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR.
	eventually(ctx, t, "COORDINATOR_LOAD_IN_PROGRESS while loading", func() error {
		if err := initPID(); !errors.Is(err, kerr.CoordinatorLoadInProgress) {
			return fmt.Errorf("InitProducerId: %v", err)
		}
		return nil
	})
	eventually(ctx, t, "ListTransactions fails while loading", func() error {
		r, err := direct(kmsg.NewPtrListTransactionsRequest())
		if err != nil {
			return err
		}
		if code := r.(*kmsg.ListTransactionsResponse).ErrorCode; code != kerr.CoordinatorLoadInProgress.Code {
			return fmt.Errorf("ListTransactions: %v", kerr.ErrorForCode(code))
		}
		return nil
	})
	release()
	eventually(ctx, t, "InitProducerId once loaded", initPID)
}
