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
// INVALID_PRODUCER_ID_MAPPING, CONCURRENT_TRANSACTIONS, ...). At
// transaction.version 1 v5 is UNSUPPORTED_VERSION and ApiVersions lists
// v4.
//
// Not implemented: v6 (topic ids). Kafka checks that the producer's transaction holds the
// group's partition (KIP-447 fencing through the coordinator); here that
// check is the group coordinator's producer epoch bookkeeping only: a
// commit from an older epoch than the group saw is PRODUCER_FENCED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.TxnOffsetCommit, 0, 5, (*Server).txnOffsetCommit) }

func (s *Server) txnOffsetCommit(ctx context.Context, c *Conn, req *kmsg.TxnOffsetCommitRequest) (*kmsg.TxnOffsetCommitResponse, error) {
	committer, ok := s.cfg.Groups.(TxnOffsetCommitter)
	switch {
	case !ok:
		return txnOffsetCommitError(req, kerr.CoordinatorNotAvailable.Code), nil
	case s.tv2VersionRefused(req.Version):
		return txnOffsetCommitError(req, kerr.UnsupportedVersion.Code), nil
	case req.Version >= 5:
		adder, ok := s.transactions().(TxnOffsetsAdder)
		if !ok {
			return txnOffsetCommitError(req, kerr.CoordinatorNotAvailable.Code), nil
		}
		if err := adder.AddOffsetsTV2(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group); err != nil {
			return txnOffsetCommitError(req, errorCode(err)), nil
		}
	}
	return parked(committer.TxnOffsetCommit(groupCtx(ctx, c), req), ctx)
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
