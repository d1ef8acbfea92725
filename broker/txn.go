package broker

// The transaction coordinator on a single node: transaction state lives
// in __transaction_state (Kafka's TransactionLogKey/Value records,
// transaction.state.log.num.partitions partitions, each id on partition
// abs(hashCode(id)) % partitions as Kafka places it), one txn.Service
// serves every id, and markers are written by calling this node's own
// WriteTxnMarkers handler. Transactional offset commits reach the group
// coordinator through the handler's OnTxnMarker hook (onTxnMarker).
//
// Goroutines: the Service's Run goroutine (started by Broker.Run) and the
// marker goroutines it owns.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/broker/internal/group"
	"github.com/highwater-io/highwater/broker/internal/handler"
	"github.com/highwater-io/highwater/broker/internal/partlog"
	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/broker/internal/topics"
	"github.com/highwater-io/highwater/broker/internal/txn"
)

// txnStateTopic is Kafka's internal topic for transaction state.
const txnStateTopic = "__transaction_state"

// TxnPartition is Kafka's placement of a transactional id on
// __transaction_state: the same hash as groups on __consumer_offsets.
func TxnPartition(transactionalID string, partitions int32) int32 {
	return GroupPartition(transactionalID, partitions)
}

// txnTopicConfigs are the configs __transaction_state is created with.
func txnTopicConfigs(props *config.Broker) map[string]string {
	return map[string]string{
		"segment.bytes": strconv.FormatInt(props.Int64("transaction.state.log.segment.bytes"), 10),
		// Compacted, as in Kafka: the newest record per transactional id
		// (or its tombstone) stays, what it superseded is cleaned away.
		"cleanup.policy":      "compact",
		"min.insync.replicas": strconv.FormatInt(props.Int64("transaction.state.log.min.isr"), 10),
	}
}

// txnServiceConfig is the txn.ServiceConfig both modes use.
func txnServiceConfig(props *config.Broker, ids handler.ProducerIDs, now func() time.Time, log *slog.Logger,
	offsetsPartitions func() int32, exists func(string, int32) bool) txn.ServiceConfig {
	ms := func(key string) time.Duration { return time.Duration(props.Int64(key)) * time.Millisecond }
	return txn.ServiceConfig{
		Coordinator: txn.Config{
			MaxTimeout:         ms("transaction.max.timeout.ms"),
			IDExpiration:       ms("transactional.id.expiration.ms"),
			NextProducerID:     ids.NextProducerID,
			TransactionVersion: transactionVersion(props),
		},
		OffsetsPartition: func(g string) (int32, error) {
			n := offsetsPartitions()
			if n <= 0 {
				// Retriable: the topic is created eagerly (cluster mode:
				// once enough brokers are live).
				return 0, fmt.Errorf("%w: %s does not exist yet", kerr.CoordinatorNotAvailable, offsetsTopic)
			}
			return GroupPartition(g, n), nil
		},
		PartitionExists:     exists,
		AbortCheckInterval:  ms("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
		ExpireCheckInterval: ms("transaction.remove.expired.transaction.cleanup.interval.ms"),
		Now:                 now,
		Logger:              log.With("component", "txn"),
	}
}

// transactionVersion is the transaction.version this broker finalizes
// (highwater.transaction.version, validated to 1 or 2).
func transactionVersion(props *config.Broker) int16 {
	return int16(min(max(props.Int64("highwater.transaction.version"), 1), 2))
}

// localTxn is the single-node transaction coordinator. It is the
// handler's ProducerIDs (idempotent producers keep their allocator) and
// Transactions.
type localTxn struct {
	handler.ProducerIDs
	*txn.Service
	// featuresEpoch is when the transaction.version level was loaded (ms):
	// ApiVersions' FinalizedFeaturesEpoch, newer after a restart.
	featuresEpoch int64
}

var (
	_ handler.Transactions        = localTxn{}
	_ handler.TransactionFeatures = localTxn{}
	_ handler.TxnOffsetsAdder     = localTxn{}
	_ handler.TxnOffsetsVerifier  = localTxn{}
)

// FinalizedTransactionVersion implements handler.TransactionFeatures.
func (l localTxn) FinalizedTransactionVersion() (int16, int64) {
	return l.Service.TransactionVersion(), l.featuresEpoch
}

// AddOffsetsTV2 implements handler.TxnOffsetsAdder.
func (l localTxn) AddOffsetsTV2(_ context.Context, id string, pid int64, epoch int16, group string) error {
	return l.Service.AddOffsetsTV2(id, pid, epoch, group)
}

// VerifyOffsetsTxn implements handler.TxnOffsetsVerifier.
func (l localTxn) VerifyOffsetsTxn(_ context.Context, id string, pid int64, epoch int16, group string) error {
	return l.Service.VerifyOffsets(id, pid, epoch, group)
}

// openTxn creates (or opens) __transaction_state and replays it. markers
// is called for every marker request (the broker's own handler, set once
// the handler exists).
func (b *Broker) openTxn(ids handler.ProducerIDs, markers func() *handler.Server) (localTxn, error) {
	props := b.s.props
	t, ok := b.catalog.Get(txnStateTopic)
	if !ok {
		cfgs := txnTopicConfigs(props)
		delete(cfgs, "min.insync.replicas")
		cfgs["flush.messages"] = "1" // a state change is acknowledged only once on disk
		var err error
		if t, err = b.catalog.Create(txnStateTopic, int32(props.Int64("transaction.state.log.num.partitions")), cfgs, true, false); err != nil {
			return localTxn{}, fmt.Errorf("creating %s: %w", txnStateTopic, err)
		}
	} else if err := compactInternalTopic(b.catalog, t); err != nil {
		return localTxn{}, err
	}
	offsetsPartitions := func() int32 {
		if ot, ok := b.catalog.Get(offsetsTopic); ok {
			return int32(len(ot.Partitions()))
		}
		return 0
	}
	store := &localTxnStore{topic: t, now: b.cfg.Now}
	svc, err := txn.NewService(txnServiceConfig(props, ids, b.cfg.Now, b.log, offsetsPartitions, b.catalog.PartitionExists),
		store, localMarkers{markers})
	if err != nil {
		return localTxn{}, err
	}
	var kvs []txn.KV
	for _, p := range t.Partitions() {
		got, err := replayPartition(p)
		if err != nil {
			return localTxn{}, err
		}
		for _, kv := range got {
			kvs = append(kvs, txn.KV{Key: kv.Key, Value: kv.Value})
		}
	}
	if err := svc.Load(kvs); err != nil {
		return localTxn{}, fmt.Errorf("replaying %s: %w", txnStateTopic, err)
	}
	b.log.Info("loaded transactions", "records", len(kvs))
	return localTxn{ProducerIDs: ids, Service: svc, featuresEpoch: b.cfg.Now().UnixMilli()}, nil
}

// localMarkers writes markers through this node's handler.
type localMarkers struct{ server func() *handler.Server }

// holdMarkers, set by tests only, makes every marker delivery fail (the
// coordinator retries), so a transaction stays in PrepareCommit.
var holdMarkers atomic.Bool

func (m localMarkers) WriteTxnMarkers(ctx context.Context, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	if holdMarkers.Load() {
		return nil, errors.New("broker: markers held (test)")
	}
	s := m.server()
	if s == nil {
		return nil, errors.New("broker: handler not ready")
	}
	return s.WriteTxnMarkers(ctx, req), nil
}

// localTxnStore appends __transaction_state records to the partition of
// their id, durably (flush.messages=1) before returning.
type localTxnStore struct {
	topic *topics.Topic
	now   func() time.Time
}

func (s *localTxnStore) Append(kvs []txn.KV) error {
	n := int32(len(s.topic.Partitions()))
	now := s.now().UnixMilli()
	for _, kv := range kvs {
		p := int32(0)
		if len(kv.Key) >= 4 {
			if l := int(binary.BigEndian.Uint16(kv.Key[2:])); 4+l <= len(kv.Key) {
				p = TxnPartition(string(kv.Key[4:4+l]), n)
			}
		}
		batch, err := records.Build(records.BuildOptions{FirstTimestamp: now, MaxTimestamp: now, PartitionLeaderEpoch: -1,
			ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, records.CodecNone, []records.Record{{Key: kv.Key, Value: kv.Value}})
		if err != nil {
			return err
		}
		if _, err := s.topic.Partition(p).Log.Append(batch); err != nil {
			return fmt.Errorf("%s-%d: %w", txnStateTopic, p, err)
		}
	}
	return nil
}

// onTxnMarker is the handler's OnTxnMarker on a single node: a marker for
// a __consumer_offsets partition ends the producer's transactional offset
// commits of the groups on that partition.
func (b *Broker) onTxnMarker(topic string, partition int32, producerID int64, producerEpoch int16, commit bool) {
	if topic != offsetsTopic {
		return
	}
	if b.cluster != nil {
		b.cluster.onClusterTxnMarker(partition, producerID, producerEpoch, commit)
		return
	}
	if b.groups == nil {
		return
	}
	n := int32(len(b.groups.topic.Partitions()))
	owns := func(g string) bool { return GroupPartition(g, n) == partition }
	if err := b.groups.service.CompleteTxn(producerID, producerEpoch, commit, owns); err != nil {
		b.log.Error("completing transactional offset commits", "partition", partition, "producer_id", producerID, "err", err)
	}
}

// groupBatches encodes group records as __consumer_offsets batches:
// consecutive plain records share a batch, a producer's transactional
// records form a transactional batch of that producer, and a marker is
// its control batch, as Kafka lays them out. place picks the partition.
func groupBatches(kvs []group.KV, nowMs int64, place func(group.KV) int32) (parts []int32, batches [][]byte, err error) {
	type run struct {
		p    int32
		txn  *group.TxnRecord
		recs []records.Record
	}
	var runs []run
	for _, kv := range kvs {
		p := place(kv)
		if kv.Txn != nil && kv.Txn.Marker != group.NotMarker {
			runs = append(runs, run{p: p, txn: kv.Txn})
			continue
		}
		if n := len(runs); n > 0 && runs[n-1].p == p && sameProducer(runs[n-1].txn, kv.Txn) &&
			(runs[n-1].txn == nil || runs[n-1].txn.Marker == group.NotMarker) {
			r := &runs[n-1]
			r.recs = append(r.recs, records.Record{OffsetDelta: int32(len(r.recs)), Key: kv.Key, Value: kv.Value})
			continue
		}
		runs = append(runs, run{p: p, txn: kv.Txn, recs: []records.Record{{Key: kv.Key, Value: kv.Value}}})
	}
	for _, r := range runs {
		var batch []byte
		switch {
		case r.txn != nil && r.txn.Marker != group.NotMarker:
			batch, err = partlog.BuildMarker(r.txn.ProducerID, r.txn.ProducerEpoch, 0, r.txn.Marker == group.MarkerCommit, nowMs)
		default:
			opts := records.BuildOptions{FirstTimestamp: nowMs, MaxTimestamp: nowMs, PartitionLeaderEpoch: -1,
				ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
			if r.txn != nil {
				opts.ProducerID, opts.ProducerEpoch, opts.Transactional = r.txn.ProducerID, r.txn.ProducerEpoch, true
			}
			batch, err = records.Build(opts, records.CodecNone, r.recs)
		}
		if err != nil {
			return nil, nil, err
		}
		parts, batches = append(parts, r.p), append(batches, batch)
	}
	return parts, batches, nil
}

func sameProducer(a, b *group.TxnRecord) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.ProducerID == b.ProducerID && a.ProducerEpoch == b.ProducerEpoch
}

// AppendTxn implements group.TxnStore on a single node.
func (gs *groupStore) AppendTxn(kvs []group.KV) error {
	parts, batches, err := groupBatches(kvs, gs.now().UnixMilli(), gs.placeKV)
	if err != nil {
		return err
	}
	for i, batch := range batches {
		if _, err := gs.topic.Partition(parts[i]).Log.Append(batch); err != nil {
			return fmt.Errorf("%s-%d: %w", offsetsTopic, parts[i], err)
		}
	}
	return nil
}

func (gs *groupStore) placeKV(kv group.KV) int32 {
	if kv.Txn != nil && kv.Txn.Marker != group.NotMarker {
		return GroupPartition(kv.Txn.Group, int32(len(gs.topic.Partitions())))
	}
	return gs.partitionFor(kv.Key)
}

// groupKVs turns one decoded __consumer_offsets batch into group records,
// keeping what transactional offset commits need: the producer of a
// transactional batch, and markers.
func groupKVs(batch []byte, h records.Header, recs []records.Record) []group.KV {
	if h.Control() {
		m, err := partlog.ParseMarker(batch)
		if err != nil {
			return nil // other control records carry nothing for groups
		}
		kind := group.MarkerAbort
		if m.Commit {
			kind = group.MarkerCommit
		}
		return []group.KV{{Txn: &group.TxnRecord{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Marker: kind}}}
	}
	var txnRec *group.TxnRecord
	if h.Transactional() {
		txnRec = &group.TxnRecord{ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch}
	}
	kvs := make([]group.KV, 0, len(recs))
	for _, r := range recs {
		kvs = append(kvs, group.KV{Key: r.Key, Value: r.Value, Txn: txnRec})
	}
	return kvs
}

// openTransactions wraps ids with the transaction coordinator: on a single
// node a Service over the local __transaction_state, in cluster mode the
// router over the led partitions (cluster_txn.go).
func (b *Broker) openTransactions(ids handler.ProducerIDs) (handler.ProducerIDs, error) {
	if b.cluster != nil {
		return b.cluster.openTxn(ids), nil
	}
	lt, err := b.openTxn(ids, func() *handler.Server { return b.handler })
	if err != nil {
		return nil, err
	}
	b.txns = lt.Service
	return lt, nil
}

// verifyTxnPartition is the handler's VerifyTxnPartition (KIP-890 part 1):
// the produce path asks the coordinator whether a transactional batch's
// partition is in its producer's ongoing transaction. For a Produce v12+
// batch at transaction.version 2 (handler.ProduceAddsTxnPartition) it asks
// the coordinator to add the partition instead (KIP-890 part 2: the
// client sends no AddPartitionsToTxn). The answer is mapped as Kafka's
// partition leaders map it for the producer: fenced is
// INVALID_PRODUCER_EPOCH, a partition outside the transaction
// TRANSACTION_ABORTABLE (the handler answers INVALID_TXN_STATE to Produce
// v10 and older, as Kafka's AddPartitionsToTxnManager does), and a
// coordinator that cannot answer (moving, loading, unreachable, or still
// writing the previous transaction's markers: CONCURRENT_TRANSACTIONS) is
// NOT_ENOUGH_REPLICAS, which producers retry. A request without a transactional id is not verified,
// as Kafka's ReplicaManager verifies only requests that carry one.
func (b *Broker) verifyTxnPartition(ctx context.Context, id string, pid int64, epoch int16, topic string, partition int32) error {
	tp := txn.TopicPartition{Topic: topic, Partition: partition}
	add := handler.ProduceAddsTxnPartition(ctx)
	ask := func() error {
		switch {
		case b.clusterTxn != nil:
			return b.clusterTxn.ask(ctx, id, pid, epoch, tp, add)
		case b.txns != nil && add:
			return b.txns.AddPartition(id, pid, epoch, tp)
		default:
			return b.txns.VerifyPartition(id, pid, epoch, tp)
		}
	}
	if id == "" || (b.clusterTxn == nil && b.txns == nil) {
		return nil
	}
	err := ask()
	// The first batch of the next transaction usually arrives while the
	// coordinator still writes the previous one's markers (EndTxn answered
	// before them): retry here briefly, as Kafka's partition leader does
	// (add.partitions.to.txn.retry.backoff.ms / .max.ms, 20 and 100 ms),
	// rather than send the producer into its retry backoff.
	for wait, waited := addRetryBackoff, time.Duration(0); add && errors.Is(err, kerr.ConcurrentTransactions) && waited < addRetryMax; wait *= 2 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return verifyAnswer(err)
		case <-t.C:
		}
		waited += wait
		err = ask()
	}
	return verifyAnswer(err)
}

// Kafka's add.partitions.to.txn.retry.backoff.ms and
// add.partitions.to.txn.retry.backoff.max.ms defaults.
const (
	addRetryBackoff = 20 * time.Millisecond
	addRetryMax     = 100 * time.Millisecond
)

func verifyAnswer(err error) error {
	var ke *kerr.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.ProducerFenced):
		return kerr.InvalidProducerEpoch
	case errors.Is(err, kerr.InvalidTxnState), errors.Is(err, kerr.InvalidProducerEpoch),
		errors.Is(err, kerr.InvalidProducerIDMapping), errors.Is(err, kerr.TransactionAbortable):
		errors.As(err, &ke)
		return ke
	}
	return kerr.NotEnoughReplicas
}
