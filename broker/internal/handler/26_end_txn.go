package handler

// EndTxn (key 26), versions 0-5.
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
// v5 (transaction version 2, KIP-890 part 2) bumps the producer epoch on
// every commit and abort; the answer carries the epoch (or, when the epoch
// is exhausted, a new producer id at epoch 0) the producer continues with,
// and the markers are written with it. A retry with the previous epoch of
// a completed end succeeds with the current id and epoch; an abort with no
// open transaction succeeds and bumps. franz-go and the Java client send
// v5 only when ApiVersions finalizes transaction.version 2
// (highwater.transaction.version=2; at level 1 ApiVersions lists v4). As
// in Kafka 4.1 (TransactionVersion.transactionVersionForEndTxn) the
// version alone decides: a v5 request is served the version 2 way at
// level 1 too, rather than refused (a client that sent it would retry the
// refusal forever).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.EndTxn, 0, 5, (*Server).endTxn) }

func (s *Server) endTxn(ctx context.Context, _ *Conn, req *kmsg.EndTxnRequest) (*kmsg.EndTxnResponse, error) {
	txns := s.transactions()
	if txns == nil {
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp, nil
	}
	return parked(txns.EndTxn(ctx, req), ctx)
}
