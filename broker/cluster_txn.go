package broker

// Cluster mode transactions, placed as Kafka places them: the coordinator
// of transactional id x is the leader of __transaction_state partition
// TxnPartition(x). One txn.Service per partition this node leads, created
// by the metadata driver (apply) when it sees this node lead it and loaded
// by replaying the partition's local log; it resumes the markers of every
// PrepareCommit/PrepareAbort it finds, so a coordinator failover completes
// what the previous coordinator prepared. Dropped when the node stops
// leading the partition (or the leader epoch changes): the lifecycle of
// internalTopic (cluster_internal_topic.go), as for groups. State records are
// appended through the replication driver and acknowledged once the high
// watermark passed them. Markers go to each partition's leader: this
// node's handler for partitions led here, WriteTxnMarkers over the wire
// (a franz-go client) otherwise, retried by the Service until every
// partition acknowledged. Requests for ids not coordinated here answer
// NOT_COORDINATOR, or COORDINATOR_LOAD_IN_PROGRESS while their partition
// loads here (Kafka's TransactionStateManager while the partition is in
// its loading set).
//
// Goroutines: apply runs on the driver goroutine; each Service's Run
// goroutine (and its marker goroutines) lives until its partition is
// dropped or the driver's context ends.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/broker/internal/group"
	"github.com/highwater-io/highwater/broker/internal/handler"
	"github.com/highwater-io/highwater/broker/internal/metadata"
	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/broker/internal/topics"
	"github.com/highwater-io/highwater/broker/internal/txn"
)

// txnMarkerTimeout bounds one WriteTxnMarkers round trip to a leader.
const txnMarkerTimeout = 10 * time.Second

// clusterTxn is the cluster's transaction coordinator: handler.ProducerIDs
// (delegated), handler.Transactions and handler.TxnCoordinators; one
// txn.Service per __transaction_state partition led here.
type clusterTxn struct {
	handler.ProducerIDs
	*internalTopic[*txn.Service]
	// level is the transaction.version this node finalizes, loaded at
	// featuresEpoch (ms; ApiVersions' FinalizedFeaturesEpoch).
	level         int16
	featuresEpoch int64

	mu      sync.Mutex
	clients map[int32]*nodeClient // markers to other nodes, by node id
	watched bool                  // a goroutine stops every Service when the driver ends
}

var (
	_ handler.Transactions        = (*clusterTxn)(nil)
	_ handler.TxnCoordinators     = (*clusterTxn)(nil)
	_ handler.TransactionFeatures = (*clusterTxn)(nil)
	_ handler.TxnOffsetsAdder     = (*clusterTxn)(nil)
	_ handler.TxnOffsetsVerifier  = (*clusterTxn)(nil)
)

// FinalizedTransactionVersion implements handler.TransactionFeatures.
func (t *clusterTxn) FinalizedTransactionVersion() (int16, int64) { return t.level, t.featuresEpoch }

// openTxn wraps the cluster's producer id allocator with the coordinator.
func (c *clusterNode) openTxn(ids handler.ProducerIDs) *clusterTxn {
	t := &clusterTxn{ProducerIDs: ids, clients: map[int32]*nodeClient{},
		level: transactionVersion(c.b.s.props), featuresEpoch: c.b.cfg.Now().UnixMilli()}
	t.internalTopic = newInternalTopic(c, internalTopicSpec[*txn.Service]{
		name:           txnStateTopic,
		partitionOf:    TxnPartition,
		partitionsKey:  "transaction.state.log.num.partitions",
		replicationKey: "transaction.state.log.replication.factor",
		configs: func(props *config.Broker, rf int) map[string]string {
			cfgs := txnTopicConfigs(props)
			cfgs["min.insync.replicas"] = strconv.Itoa(min(int(props.Int64("transaction.state.log.min.isr")), rf))
			return cfgs
		},
		open:       t.open,
		loadingMsg: "loading transactions", servingMsg: "coordinating transactions",
	})
	c.b.clusterTxn = t
	return t
}

// apply loads the __transaction_state partitions this node newly leads
// and drops the others (the driver calls it after the groups' apply).
func (t *clusterTxn) apply(ctx context.Context, img metadata.Image) {
	t.mu.Lock()
	if !t.watched {
		t.watched = true
		go func() { <-ctx.Done(); t.stopAll() }()
	}
	t.mu.Unlock()
	t.internalTopic.apply(ctx, img)
}

// holdTxnLoads, set by tests only, holds every __transaction_state load
// in open until the channel is closed (or the partition is dropped): the
// window in which this node leads the partition but is still loading it.
var holdTxnLoads atomic.Pointer[chan struct{}]

// open builds partition tp's Service from its replayed records; it
// coordinates at the partition's leader epoch, and its Store's waits end
// with ctx.
func (t *clusterTxn) open(ctx context.Context, topicID [16]byte, tp *topics.Partition, got []group.KV, epoch int32) (*txn.Service, error) {
	if hold := holdTxnLoads.Load(); hold != nil {
		select {
		case <-*hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	kvs := make([]txn.KV, 0, len(got))
	for _, kv := range got {
		kvs = append(kvs, txn.KV{Key: kv.Key, Value: kv.Value})
	}
	b := t.c.b
	offsetsPartitions := func() int32 {
		if ot, ok := t.c.Image().TopicByName(offsetsTopic); ok {
			return int32(len(ot.Partitions))
		}
		return 0
	}
	cfg := txnServiceConfig(b.s.props, t.ProducerIDs, b.cfg.Now, b.log.With("partition", tp.Index), offsetsPartitions, t.c.topicExists)
	cfg.CoordinatorEpoch = epoch
	store := &replicatedTxnStore{repl: t.c.repl, topicID: topicID, tp: tp, now: b.cfg.Now, done: ctx.Done()}
	svc, err := txn.NewService(cfg, store, clusterMarkers{t})
	if err == nil {
		err = svc.Load(kvs)
	}
	if err != nil {
		return nil, fmt.Errorf("%s-%d: %w", txnStateTopic, tp.Index, err)
	}
	return svc, nil
}

// TxnCoordinator implements handler.TxnCoordinators: the leader of the
// id's partition (internalTopic.coordinator).
func (t *clusterTxn) TxnCoordinator(ctx context.Context, id string) (int32, string, int32, error) {
	return t.coordinator(ctx, id)
}

// InitProducerID implements handler.Transactions (for transactional
// producers only: the handler allocates the others' ids itself).
func (t *clusterTxn) InitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	refuse := func(_ *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse, code int16) {
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
	}
	if req.TransactionalID == nil {
		resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
		refuse(req, resp, notCoordinator)
		return resp
	}
	return route(t.internalTopic, ctx, *req.TransactionalID, req, (*txn.Service).InitProducerID, refuse)
}

// AddPartitionsToTxn implements handler.Transactions; v4 batches are
// split per transaction.
func (t *clusterTxn) AddPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	if req.Version < 4 {
		return route(t.internalTopic, ctx, req.TransactionalID, req, (*txn.Service).AddPartitionsToTxn, refuseAddPartitionsToTxn)
	}
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	var ok bool
	resp.Transactions, ok = split(t.internalTopic, req.Transactions,
		func(tx kmsg.AddPartitionsToTxnRequestTransaction) string { return tx.TransactionalID },
		func(svc *txn.Service, tx kmsg.AddPartitionsToTxnRequestTransaction) ([]kmsg.AddPartitionsToTxnResponseTransaction, bool) {
			one := *req
			one.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{tx}
			r := svc.AddPartitionsToTxn(ctx, &one)
			if r == nil {
				return nil, false
			}
			return r.Transactions, true
		},
		func(tx kmsg.AddPartitionsToTxnRequestTransaction, code int16) kmsg.AddPartitionsToTxnResponseTransaction {
			ot := kmsg.AddPartitionsToTxnResponseTransaction{TransactionalID: tx.TransactionalID}
			for _, rt := range tx.Topics {
				tt := kmsg.AddPartitionsToTxnResponseTransactionTopic{Topic: rt.Topic}
				for _, p := range rt.Partitions {
					tt.Partitions = append(tt.Partitions, kmsg.AddPartitionsToTxnResponseTransactionTopicPartition{Partition: p, ErrorCode: code})
				}
				ot.Topics = append(ot.Topics, tt)
			}
			return ot
		})
	if !ok {
		return nil
	}
	return resp
}

// refuseAddPartitionsToTxn answers v0-3: code on every partition.
func refuseAddPartitionsToTxn(req *kmsg.AddPartitionsToTxnRequest, resp *kmsg.AddPartitionsToTxnResponse, code int16) {
	for _, rt := range req.Topics {
		ot := kmsg.AddPartitionsToTxnResponseTopic{Topic: rt.Topic}
		for _, p := range rt.Partitions {
			ot.Partitions = append(ot.Partitions, kmsg.AddPartitionsToTxnResponseTopicPartition{Partition: p, ErrorCode: code})
		}
		resp.Topics = append(resp.Topics, ot)
	}
}

// AddOffsetsToTxn implements handler.Transactions.
func (t *clusterTxn) AddOffsetsToTxn(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) *kmsg.AddOffsetsToTxnResponse {
	return route(t.internalTopic, ctx, req.TransactionalID, req, (*txn.Service).AddOffsetsToTxn,
		func(_ *kmsg.AddOffsetsToTxnRequest, resp *kmsg.AddOffsetsToTxnResponse, code int16) {
			resp.ErrorCode = code
		})
}

// EndTxn implements handler.Transactions.
func (t *clusterTxn) EndTxn(ctx context.Context, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse {
	return route(t.internalTopic, ctx, req.TransactionalID, req, (*txn.Service).EndTxn,
		func(_ *kmsg.EndTxnRequest, resp *kmsg.EndTxnResponse, code int16) {
			resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
		})
}

// DescribeTransactions implements handler.Transactions, per id.
func (t *clusterTxn) DescribeTransactions(_ context.Context, req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	resp.TransactionStates, _ = split(t.internalTopic, req.TransactionalIDs, itself,
		func(svc *txn.Service, id string) ([]kmsg.DescribeTransactionsResponseTransactionState, bool) {
			return []kmsg.DescribeTransactionsResponseTransactionState{svc.DescribeOne(id)}, true
		},
		func(id string, code int16) kmsg.DescribeTransactionsResponseTransactionState {
			st := kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID, st.ErrorCode = id, code
			return st
		})
	return resp
}

// ListTransactions implements handler.Transactions: every partition led
// here; while one of them loads, COORDINATOR_LOAD_IN_PROGRESS and no
// transactions (Kafka's TransactionStateManager answers so while any
// partition is loading).
func (t *clusterTxn) ListTransactions(_ context.Context, req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	f, unknown, err := txn.ParseListFilter(req)
	resp.UnknownStateFilters = unknown
	if err != nil {
		resp.ErrorCode = kerr.InvalidRegularExpression.Code
		return resp
	}
	if t.loading() {
		resp.ErrorCode = loadInProgress
		return resp
	}
	onlyUnknown := len(req.StateFilters) > 0 && f.States == nil
	for _, svc := range t.services() {
		resp.TransactionStates = append(resp.TransactionStates, svc.List(t.c.b.cfg.Now(), f, onlyUnknown)...)
	}
	return resp
}

// clusterMarkers sends markers to the partitions' leaders.
type clusterMarkers struct{ t *clusterTxn }

// WriteTxnMarkers implements txn.Markers: the request is split by leader;
// partitions without a reachable leader are left out of the answer (the
// Service retries them).
func (m clusterMarkers) WriteTxnMarkers(ctx context.Context, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	if holdMarkers.Load() {
		return nil, fmt.Errorf("broker: markers held (test)")
	}
	t := m.t
	img := t.c.Image()
	byLeader := map[int32]*kmsg.WriteTxnMarkersRequest{}
	for _, mk := range req.Markers {
		for _, mt := range mk.Topics {
			it, ok := img.TopicByName(mt.Topic)
			for _, p := range mt.Partitions {
				leader := int32(-1)
				if ok && p >= 0 && int(p) < len(it.Partitions) {
					leader = it.Partitions[p].Leader
				}
				if leader < 0 {
					continue
				}
				sub := byLeader[leader]
				if sub == nil {
					sub = kmsg.NewPtrWriteTxnMarkersRequest()
					sub.Version = req.Version
					byLeader[leader] = sub
				}
				addMarkerPartition(sub, mk, mt.Topic, p)
			}
		}
	}
	// Leaders are asked in parallel: each answers only once its markers
	// are replicated.
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for leader, sub := range byLeader {
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, txnMarkerTimeout)
			defer cancel()
			var r *kmsg.WriteTxnMarkersResponse
			var err error
			if leader == t.c.nodeID {
				r = t.c.b.handler.WriteTxnMarkers(rctx, sub)
			} else {
				r, err = t.send(rctx, img, leader, sub)
			}
			if err != nil {
				t.c.b.log.Debug("sending transaction markers", "to", leader, "err", err)
				return
			}
			mu.Lock()
			resp.Markers = append(resp.Markers, r.Markers...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return resp, nil
}

func addMarkerPartition(req *kmsg.WriteTxnMarkersRequest, mk kmsg.WriteTxnMarkersRequestMarker, topic string, p int32) {
	var m *kmsg.WriteTxnMarkersRequestMarker
	for i := range req.Markers {
		if req.Markers[i].ProducerID == mk.ProducerID && req.Markers[i].ProducerEpoch == mk.ProducerEpoch {
			m = &req.Markers[i]
		}
	}
	if m == nil {
		cp := mk
		cp.Topics = nil
		req.Markers = append(req.Markers, cp)
		m = &req.Markers[len(req.Markers)-1]
	}
	for i := range m.Topics {
		if m.Topics[i].Topic == topic {
			m.Topics[i].Partitions = append(m.Topics[i].Partitions, p)
			return
		}
	}
	m.Topics = append(m.Topics, kmsg.WriteTxnMarkersRequestMarkerTopic{Topic: topic, Partitions: []int32{p}})
}

// send delivers a marker request to another node.
func (t *clusterTxn) send(ctx context.Context, img metadata.Image, node int32, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	r, err := t.request(ctx, img, node, req)
	if err != nil {
		return nil, err
	}
	return r.(*kmsg.WriteTxnMarkersResponse), nil
}

// request sends req to another node through a client seeded with that
// node's current endpoint (replaced when the image moves it: a restarted
// node may listen elsewhere).
func (t *clusterTxn) request(ctx context.Context, img metadata.Image, node int32, req kmsg.Request) (kmsg.Response, error) {
	host, port, ok := plaintextEndpoint(img, node)
	if !ok {
		return nil, fmt.Errorf("broker: node %d has no PLAINTEXT endpoint", node)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	t.mu.Lock()
	nc := t.clients[node]
	if nc != nil && nc.addr != addr {
		nc.cl.Close()
		nc = nil
	}
	if nc == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0),
			kgo.ClientID(fmt.Sprintf("highwater-txn-coordinator-%d", t.c.nodeID)))
		if err != nil {
			t.mu.Unlock()
			return nil, err
		}
		nc = &nodeClient{addr: addr, cl: cl}
		t.clients[node] = nc
	}
	t.mu.Unlock()
	return nc.cl.SeedBrokers()[0].Request(ctx, req)
}

type nodeClient struct {
	addr string
	cl   *kgo.Client
}

// close stops every Service (waiting for their goroutines) and releases
// the marker clients (Broker.Close).
func (t *clusterTxn) close() {
	t.stopAll()
	t.mu.Lock()
	defer t.mu.Unlock()
	for node, nc := range t.clients {
		nc.cl.Close()
		delete(t.clients, node)
	}
}

// replicatedTxnStore writes one __transaction_state partition's records
// through the replication driver and waits for the high watermark.
type replicatedTxnStore struct {
	repl    *replicator
	topicID [16]byte
	tp      *topics.Partition
	now     func() time.Time
	// done ends waits for the high watermark when the Service stops.
	done <-chan struct{}
}

// Append implements txn.Store.
func (s *replicatedTxnStore) Append(kvs []txn.KV) error {
	batch, err := plainBatch(s.now().UnixMilli(), len(kvs), func(i int) ([]byte, []byte) { return kvs[i].Key, kvs[i].Value })
	if err != nil {
		return err
	}
	return replicateBatch(s.repl, s.topicID, s.tp, batch, txnStateTopic, s.done)
}

// plainBatch is one uncompressed, non-transactional batch of n records
// (kv gives record i's key and value) timestamped nowMs, to be appended as
// leader (replicateBatch sets its leader epoch).
func plainBatch(nowMs int64, n int, kv func(i int) (key, value []byte)) ([]byte, error) {
	recs := make([]records.Record, n)
	for i := range recs {
		recs[i].OffsetDelta = int32(i)
		recs[i].Key, recs[i].Value = kv(i)
	}
	return records.Build(records.BuildOptions{FirstTimestamp: nowMs, MaxTimestamp: nowMs, PartitionLeaderEpoch: -1,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, records.CodecNone, recs)
}

// replicateBatch appends batch as leader with acks=all semantics and waits
// until the high watermark passed it (or done is closed: the write's fate
// is then unknown, and the caller treats it as failed).
func replicateBatch(repl *replicator, topicID [16]byte, tp *topics.Partition, batch []byte, name string, done <-chan struct{}) error {
	ch, err := repl.Produce(topicID, tp.Index, -1, groupCommitTimeout, func(epoch int32) (int64, error) {
		records.SetPartitionLeaderEpoch(batch, epoch)
		res, err := tp.Log.Append(batch)
		return res.LastOffset, err
	})
	if err != nil {
		return fmt.Errorf("%s-%d: %w", name, tp.Index, err)
	}
	repl.c.catalog.Notify() // followers parked in a fetch copy it now, not at their max wait
	if ch == nil {
		return nil
	}
	timer := time.NewTimer(groupCommitTimeout + time.Second)
	defer timer.Stop()
	select {
	case err = <-ch:
	case <-timer.C:
		err = kerr.RequestTimedOut
	case <-done:
		err = kerr.NotCoordinator
	}
	if err != nil {
		return fmt.Errorf("%s-%d: %w", name, tp.Index, err)
	}
	return nil
}

// AppendTxn implements group.TxnStore in cluster mode: the partition's
// transactional batches and markers, replicated like its other records.
func (s *replicatedGroupStore) AppendTxn(kvs []group.KV) error {
	_, batches, err := groupBatches(kvs, s.now().UnixMilli(), func(group.KV) int32 { return s.tp.Index })
	if err != nil {
		return err
	}
	for _, batch := range batches {
		if err := replicateBatch(s.repl, s.topicID, s.tp, batch, offsetsTopic, nil); err != nil {
			return err
		}
	}
	return nil
}

// onClusterTxnMarker is OnTxnMarker in cluster mode: the group Service of
// the __consumer_offsets partition led here completes the producer's
// transactional offset commits.
// The handler calls it only for a partition it leads, whose group Service
// the driver may still be loading: it waits for it (bounded) rather than
// acknowledge a marker the offsets never saw.
func (c *clusterNode) onClusterTxnMarker(partition int32, producerID int64, producerEpoch int16, commit bool) {
	var svc *group.Service
	for deadline := time.Now().Add(groupCommitTimeout); ; time.Sleep(10 * time.Millisecond) {
		var ok bool
		if svc, ok = c.groups.servicePartition(partition); ok || time.Now().After(deadline) {
			break
		}
	}
	if svc == nil {
		c.b.log.Error("transaction marker for a __consumer_offsets partition whose groups are not loaded here",
			"partition", partition, "producer_id", producerID)
		return
	}
	if err := svc.CompleteTxn(producerID, producerEpoch, commit, nil); err != nil {
		c.b.log.Error("completing transactional offset commits", "partition", partition, "producer_id", producerID, "err", err)
	}
}

// AddOffsetsTV2 implements handler.TxnOffsetsAdder: the group's
// __consumer_offsets partition is added through the id's coordinator,
// wherever it runs. Errors the TxnOffsetCommit client could not act on
// (the coordinator unreachable or moving) become COORDINATOR_NOT_AVAILABLE,
// which it retries.
func (t *clusterTxn) AddOffsetsTV2(ctx context.Context, id string, pid int64, epoch int16, group string) error {
	return t.askOffsets(ctx, id, pid, epoch, group, true)
}

// VerifyOffsetsTxn implements handler.TxnOffsetsVerifier: AddOffsetsTV2's
// question without the add (AddPartitionsToTxn v4 verifyOnly when the
// id's coordinator is another node).
func (t *clusterTxn) VerifyOffsetsTxn(ctx context.Context, id string, pid int64, epoch int16, group string) error {
	return t.askOffsets(ctx, id, pid, epoch, group, false)
}

func (t *clusterTxn) askOffsets(ctx context.Context, id string, pid int64, epoch int16, group string, add bool) error {
	ot, ok := t.c.Image().TopicByName(offsetsTopic)
	if !ok || len(ot.Partitions) == 0 {
		return kerr.CoordinatorNotAvailable
	}
	tp := txn.TopicPartition{Topic: offsetsTopic, Partition: GroupPartition(group, int32(len(ot.Partitions)))}
	err := t.ask(ctx, id, pid, epoch, tp, add)
	var ke *kerr.Error
	if err != nil && (!errors.As(err, &ke) || errors.Is(err, kerr.NotCoordinator) || errors.Is(err, kerr.CoordinatorLoadInProgress)) {
		return fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
	}
	return err
}

// ask is the partition leader's question to the id's coordinator: verify
// (KIP-890 part 1) or, with add, add tp to the producer's transaction
// (KIP-890 part 2). Locally when this node coordinates id, else with
// AddPartitionsToTxn sent to the coordinator: v4 verifyOnly, or v5 to add.
func (t *clusterTxn) ask(ctx context.Context, id string, pid int64, epoch int16, tp txn.TopicPartition, add bool) error {
	if svc, ok := t.serviceFor(id); ok {
		if add {
			return svc.AddPartition(id, pid, epoch, tp)
		}
		return svc.VerifyPartition(id, pid, epoch, tp)
	}
	node, _, _, err := t.TxnCoordinator(ctx, id)
	if err != nil {
		return err
	}
	if node == t.c.nodeID {
		return kerr.CoordinatorLoadInProgress // led here by the image, not loaded yet
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	if add {
		req.Version = 5
	}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{{TransactionalID: id, ProducerID: pid, ProducerEpoch: epoch,
		VerifyOnly: !add, Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: tp.Topic, Partitions: []int32{tp.Partition}}}}}
	rctx, cancel := context.WithTimeout(ctx, txnMarkerTimeout)
	defer cancel()
	r, err := t.request(rctx, t.c.Image(), node, req)
	if err != nil {
		return err
	}
	resp := r.(*kmsg.AddPartitionsToTxnResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	for _, rt := range resp.Transactions {
		for _, t := range rt.Topics {
			for _, p := range t.Partitions {
				if t.Topic == tp.Topic && p.Partition == tp.Partition {
					return kerr.ErrorForCode(p.ErrorCode)
				}
			}
		}
	}
	return kerr.InvalidTxnState
}
