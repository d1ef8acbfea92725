package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transactions is the transaction coordinator the transaction API
// handlers call: one blocking call per API, taking the decoded request
// (its version set) and returning the response for that version. The
// broker's coordinator (package txn, or its cluster router) implements it
// on the same value it passes as Config.ProducerIDs: in Kafka the
// transaction coordinator is what allocates producer ids.
type Transactions interface {
	InitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse
	AddPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse
	AddOffsetsToTxn(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) *kmsg.AddOffsetsToTxnResponse
	EndTxn(ctx context.Context, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse
	DescribeTransactions(ctx context.Context, req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse
	ListTransactions(ctx context.Context, req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse
}

// TxnCoordinators places transactional ids in cluster mode (FindCoordinator
// key type 1); the cluster's transaction router implements it.
type TxnCoordinators interface {
	TxnCoordinator(ctx context.Context, transactionalID string) (nodeID int32, host string, port int32, err error)
}

// TxnOffsetCommitter is the group coordinator's side of TxnOffsetCommit;
// Config.Groups implements it when the group coordinator supports
// transactional offset commits.
type TxnOffsetCommitter interface {
	TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse
}

// transactions is the configured transaction coordinator, or nil.
func (s *Server) transactions() Transactions {
	t, _ := s.cfg.ProducerIDs.(Transactions)
	return t
}

// TransactionFeatures is implemented by a Transactions that finalizes the
// transaction.version feature (ApiVersions' FinalizedFeatures): the level
// (1: the protocol before KIP-890 part 2; 2: KIP-890 part 2) and the
// epoch of that finalization, which clients compare to keep the newest.
// Without it, or without a transaction coordinator, the level is 0.
type TransactionFeatures interface {
	FinalizedTransactionVersion() (level int16, epoch int64)
}

// TxnOffsetsAdder is implemented by a Transactions serving transaction
// version 2: TxnOffsetCommit v5+ adds the group's __consumer_offsets
// partition to the producer's transaction itself (the client sends no
// AddOffsetsToTxn), through the transactional id's coordinator.
type TxnOffsetsAdder interface {
	AddOffsetsTV2(ctx context.Context, transactionalID string, producerID int64, producerEpoch int16, group string) error
}

// TxnOffsetsVerifier is implemented by a Transactions that verifies
// TxnOffsetCommit v0-4 as Kafka's group coordinator does (KIP-890 part 1):
// the group's __consumer_offsets partition must be in the producer's open
// transaction (AddOffsetsToTxn added it), asked of the transactional id's
// coordinator wherever it runs. The error is the coordinator's
// (TRANSACTION_ABORTABLE, PRODUCER_FENCED, ...) or COORDINATOR_NOT_AVAILABLE
// when it cannot be asked.
type TxnOffsetsVerifier interface {
	VerifyOffsetsTxn(ctx context.Context, transactionalID string, producerID int64, producerEpoch int16, group string) error
}

// txnVersion is the finalized transaction.version and its epoch.
func (s *Server) txnVersion() (level int16, epoch int64) {
	if f, ok := s.transactions().(TransactionFeatures); ok {
		return f.FinalizedTransactionVersion()
	}
	return 0, 0
}

// txnAddKey marks a produce request's context when the partition leader
// is to add the partition to the transaction (KIP-890 part 2) rather than
// only verify it.
type txnAddKey struct{}

// ProduceAddsTxnPartition reports whether Config.VerifyTxnPartition is
// called for a Produce v12+ batch at transaction.version 2: the hook is
// then to add the partition to the producer's transaction (AddPartitionsToTxn
// v5 semantics), not only to verify it.
func ProduceAddsTxnPartition(ctx context.Context) bool {
	v, _ := ctx.Value(txnAddKey{}).(bool)
	return v
}
