package handler

// AddPartitionsToTxn (key 24), versions 0-5.
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
// check that the open transaction holds the partitions: as from Kafka 4.1,
// TRANSACTION_ABORTABLE for those it does not, CONCURRENT_TRANSACTIONS for
// all while the previous transaction's markers are written (the partition
// leader answers INVALID_TXN_STATE instead of TRANSACTION_ABORTABLE to
// Produce v10 and older). The answer waits until the new state is durable
// in __transaction_state. v5 (broker to coordinator, KIP-890 part 2):
// entries without verifyOnly are a partition leader adding the partition
// of a Produce v12+ batch; the transaction is then ended the transaction
// version 2 way. As in Kafka 4.1, v5 is served by its version whatever
// the finalized transaction.version (at level 1 ApiVersions lists v4, so
// clients following it do not send v5).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.AddPartitionsToTxn, 0, 5, (*Server).addPartitionsToTxn) }

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
