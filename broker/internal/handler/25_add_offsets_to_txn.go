package handler

// AddOffsetsToTxn (key 25), versions 0-4.
//
// Adds the group's __consumer_offsets partition (Kafka's placement:
// abs(groupId.hashCode()) % offsets.topic.num.partitions) to the
// producer's transaction, so that the transaction's commit or abort marker
// reaches the group coordinator and materializes (or drops) the offsets
// the producer then sends with TxnOffsetCommit. Errors as AddPartitionsToTxn
// (PRODUCER_FENCED from v2, INVALID_PRODUCER_EPOCH before).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.AddOffsetsToTxn, 0, 4, (*Server).addOffsetsToTxn) }

func (s *Server) addOffsetsToTxn(ctx context.Context, _ *Conn, req *kmsg.AddOffsetsToTxnRequest) (*kmsg.AddOffsetsToTxnResponse, error) {
	txns := s.transactions()
	if txns == nil {
		resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	return parked(txns.AddOffsetsToTxn(ctx, req), ctx)
}
