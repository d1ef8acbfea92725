package handler

// DescribeTransactions (key 65), version 0.
//
// The coordinator's view of each transactional id: state (Kafka's names:
// Empty, Ongoing, PrepareCommit, ...), producer id and epoch, timeout,
// start time and the partitions of the open transaction.
// TRANSACTIONAL_ID_NOT_FOUND for ids the coordinator does not know;
// NOT_COORDINATOR in cluster mode for ids coordinated elsewhere (admin
// clients look the coordinator up per id first), and, as in Kafka,
// COORDINATOR_LOAD_IN_PROGRESS for ids whose partition is still loading
// here after a leadership change.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeTransactions, 0, 0, (*Server).describeTransactions) }

func (s *Server) describeTransactions(ctx context.Context, _ *Conn, req *kmsg.DescribeTransactionsRequest) (*kmsg.DescribeTransactionsResponse, error) {
	txns := s.transactions()
	if txns == nil {
		resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
		for _, id := range req.TransactionalIDs {
			st := kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID, st.ErrorCode = id, kerr.CoordinatorNotAvailable.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
		return resp, nil
	}
	return parked(txns.DescribeTransactions(ctx, req), ctx)
}
