package handler

// TxnOffsetCommit (key 28), versions 0-5.
//
// Offsets sent by a transactional producer for a consumer group. The group
// coordinator validates them like OffsetCommit (v3+ carries the member id,
// generation and group.instance.id: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
// FENCED_INSTANCE_ID; an unknown group is allowed) and keeps them pending
// under the producer id: invisible to OffsetFetch until the transaction's
// commit marker reaches the group's __consumer_offsets partition
// (Config.OnTxnMarker), dropped on abort. v0-1 have no member fields; v2
// adds leader epochs. Unknown partitions get UNKNOWN_TOPIC_OR_PARTITION.
//
// v5 (transaction version 2, KIP-890 part 2) is v4 with an implicit
// AddOffsetsToTxn: the group's __consumer_offsets partition is first
// added to the producer's transaction through its coordinator (every
// partition gets that step's error if it fails: PRODUCER_FENCED,
// INVALID_PRODUCER_ID_MAPPING, CONCURRENT_TRANSACTIONS, ...). As in Kafka
// 4.1 the version alone decides, also at transaction.version 1 (where
// ApiVersions lists v4).
//
// v0-4 are first verified with the transactional id's coordinator when it
// supports it (TxnOffsetsVerifier, KIP-890 part 1, as Kafka 4.1's group
// coordinator does): a group whose __consumer_offsets partition is not in
// the producer's open transaction (no AddOffsetsToTxn) fails every
// partition with TRANSACTION_ABORTABLE from v4 and INVALID_TXN_STATE
// before; a fenced producer gets INVALID_PRODUCER_EPOCH.
// Difference: Kafka skips the check once the producer's transaction has
// written to the offsets partition; here every commit asks.
//
// Not implemented: v6 (topic ids).

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.TxnOffsetCommit, 0, 5, (*Server).txnOffsetCommit) }

func (s *Server) txnOffsetCommit(ctx context.Context, c *Conn, req *kmsg.TxnOffsetCommitRequest) (*kmsg.TxnOffsetCommitResponse, error) {
	committer, ok := s.cfg.Groups.(TxnOffsetCommitter)
	switch {
	case !ok:
		return txnOffsetCommitError(req, kerr.CoordinatorNotAvailable.Code), nil
	case req.Version >= 5:
		adder, ok := s.transactions().(TxnOffsetsAdder)
		if !ok {
			return txnOffsetCommitError(req, kerr.CoordinatorNotAvailable.Code), nil
		}
		if err := adder.AddOffsetsTV2(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group); err != nil {
			return txnOffsetCommitError(req, errorCode(err)), nil
		}
	default:
		if v, ok := s.transactions().(TxnOffsetsVerifier); ok {
			err := v.VerifyOffsetsTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group)
			if code := txnOffsetsVerifyCode(err, req.Version); code != 0 {
				return txnOffsetCommitError(req, code), nil
			}
		}
	}
	return parked(committer.TxnOffsetCommit(groupCtx(ctx, c), req), ctx)
}

// txnOffsetsVerifyCode is the answer to a TxnOffsetCommit whose
// verification failed with err, mapped as Kafka's partition leaders map
// it: TRANSACTION_ABORTABLE only from v4, the version that added it
// (INVALID_TXN_STATE before), PRODUCER_FENCED as INVALID_PRODUCER_EPOCH.
func txnOffsetsVerifyCode(err error, version int16) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, kerr.TransactionAbortable) && version < 4:
		return kerr.InvalidTxnState.Code
	case errors.Is(err, kerr.ProducerFenced):
		return kerr.InvalidProducerEpoch.Code
	}
	return errorCode(err)
}

// txnOffsetCommitError answers every partition of req with code.
func txnOffsetCommitError(req *kmsg.TxnOffsetCommitRequest, code int16) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rt.Partitions = append(rt.Partitions, kmsg.TxnOffsetCommitResponseTopicPartition{Partition: p.Partition, ErrorCode: code})
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
