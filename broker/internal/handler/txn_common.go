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
