package handler

// ListTransactions (key 66), versions 0-2.
//
// The transactions this node coordinates (in cluster mode: those of the
// __transaction_state partitions it leads; admin clients ask every
// broker), filtered by state names (unknown names are echoed in
// UnknownStateFilters and match nothing), producer ids, v1's minimum
// running time and v2's transactional id regular expression
// (INVALID_REGULAR_EXPRESSION when it does not compile).
//
// Difference from Kafka: the v2 pattern is Go's RE2 syntax, where Kafka
// uses Java's (lookarounds and backreferences are refused).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ListTransactions, 0, 2, (*Server).listTransactions) }

func (s *Server) listTransactions(ctx context.Context, _ *Conn, req *kmsg.ListTransactionsRequest) (*kmsg.ListTransactionsResponse, error) {
	txns := s.transactions()
	if txns == nil {
		resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	return parked(txns.ListTransactions(ctx, req), ctx)
}
