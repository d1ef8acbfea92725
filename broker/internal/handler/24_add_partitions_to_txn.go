package handler

// AddPartitionsToTxn (key 24), versions 0-4.
//
// v0-3 (clients): adds the partitions to the producer's transaction,
// starting it if none is open. Partitions of unknown topics fail the
// request without touching the transaction (UNKNOWN_TOPIC_OR_PARTITION for
// them, OPERATION_NOT_ATTEMPTED for the rest); otherwise every partition
// gets the transaction's answer: INVALID_PRODUCER_ID_MAPPING,
// PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v2, KIP-588),
// CONCURRENT_TRANSACTIONS while the previous transaction's markers are
// written, NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE. v4 (KIP-890 part
// 1, broker to coordinator) batches transactions; verifyOnly entries only
// check that the open transaction holds the partitions (INVALID_TXN_STATE
// for those it does not). The answer waits until the new state is durable
// in __transaction_state.
//
// Not implemented: v5 (TRANSACTION_ABORTABLE, transaction version 2);
// partition leaders do not verify produce requests against the coordinator
// (KIP-890 part 1's server-side defence).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.AddPartitionsToTxn, 0, 4, (*Server).addPartitionsToTxn) }

func (s *Server) addPartitionsToTxn(ctx context.Context, _ *Conn, req *kmsg.AddPartitionsToTxnRequest) (*kmsg.AddPartitionsToTxnResponse, error) {
	txns := s.transactions()
	if txns == nil {
		resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, kmsg.AddPartitionsToTxnResponseTopicPartition{Partition: p, ErrorCode: kerr.CoordinatorNotAvailable.Code})
			}
			resp.Topics = append(resp.Topics, rt)
		}
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	return parked(txns.AddPartitionsToTxn(ctx, req), ctx)
}
