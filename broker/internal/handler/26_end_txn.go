package handler

// EndTxn (key 26), versions 0-4.
//
// Commits or aborts the producer's open transaction. As in Kafka the
// answer comes once PrepareCommit/PrepareAbort is durable in
// __transaction_state; the coordinator then writes the markers to every
// partition of the transaction (retrying until each leader acknowledged)
// and only then records CompleteCommit/CompleteAbort. Until then the
// producer's next AddPartitionsToTxn / InitProducerId gets
// CONCURRENT_TRANSACTIONS and retries. A retried EndTxn of a completed
// transaction succeeds; the opposite outcome is INVALID_TXN_STATE; a stale
// epoch is PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v2).
//
// Not implemented: v5 (transaction version 2, KIP-890 part 2: an epoch
// bump per transaction). franz-go and the Java client use v5 only when the
// broker advertises the transaction.version feature at 2, which this one
// does not.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.EndTxn, 0, 4, (*Server).endTxn) }

func (s *Server) endTxn(ctx context.Context, _ *Conn, req *kmsg.EndTxnRequest) (*kmsg.EndTxnResponse, error) {
	txns := s.transactions()
	if txns == nil {
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	return parked(txns.EndTxn(ctx, req), ctx)
}
