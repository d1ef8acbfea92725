package handler

// WriteTxnMarkers (key 27), version 1 on the wire (Kafka 4 removed v0 and
// serves 1); Server.WriteTxnMarkers answers any version kmsg knows.
//
// The transaction coordinator asks each partition leader to end a
// producer's transaction: for every listed partition this node leads, a
// COMMIT or ABORT control batch (partlog.BuildMarker: one control record
// carrying the coordinator epoch, the producer's id and epoch, no
// sequence) is appended like any batch, so it takes an offset, and is
// replicated as one in cluster mode (the answer waits until the high
// watermark passes it, as Kafka appends markers with acks=all). Appending
// it ends the producer's open transaction in the partition's producer
// state, moves the last stable offset, and an ABORT that ended a
// transaction adds an entry to the segment's aborted transaction index
// (read_committed fetches return those). Followers copy the marker byte
// for byte and rebuild the same state from it (partlog.AppendReplica).
//
// Errors per partition: UNKNOWN_TOPIC_OR_PARTITION; NOT_LEADER_OR_FOLLOWER
// where this node does not lead; INVALID_PRODUCER_EPOCH when the marker's
// producer epoch is below the partition's current epoch for the producer;
// TRANSACTION_COORDINATOR_FENCED when its coordinator epoch is below that
// of the last marker the partition saw for the producer; NOT_ENOUGH_REPLICAS
// / REQUEST_TIMED_OUT from replication.
//
// __consumer_offsets partitions are not written: the group coordinator's
// store keeps no control batches. Instead Config.OnTxnMarker (when set)
// tells the group coordinator the transaction's outcome so that offsets
// from TxnOffsetCommit materialize on commit and are dropped on abort.
//
// Not implemented: v2 (Kafka 4.2, KIP-1228: the marker names its
// transaction version, and a version 2 marker must carry an epoch above the
// partition's current one); Kafka 4.1.1 serves v1 only, as here. The
// coordinator sends v1; a v2 marker reaching Server.WriteTxnMarkers in
// process is treated like v1.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/partlog"
	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

func init() { register(kmsg.WriteTxnMarkers, 1, 1, (*Server).writeTxnMarkers) }

// markerReplicationTimeout bounds how long a marker waits for the high
// watermark in cluster mode (Kafka's coordinator uses its request timeout).
const markerReplicationTimeout = 30 * time.Second

// consumerOffsetsTopic is the group coordinator's internal topic.
const consumerOffsetsTopic = "__consumer_offsets"

func (s *Server) writeTxnMarkers(ctx context.Context, _ *Conn, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	return s.WriteTxnMarkers(ctx, req), nil
}

// WriteTxnMarkers appends the requested transaction markers to the
// partitions this node leads and answers per partition. The transaction
// coordinator calls it directly in process (single-node mode) with a
// request it built; the response has the request's version.
func (s *Server) WriteTxnMarkers(ctx context.Context, req *kmsg.WriteTxnMarkersRequest) *kmsg.WriteTxnMarkersResponse {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	resp.SetVersion(req.GetVersion())
	appended := false
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, mt := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = mt.Topic
			t, ok := s.cfg.Topics.Get(mt.Topic)
			for _, index := range mt.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = index
				err := s.writeMarker(ctx, m, mt.Topic, t, ok, index)
				appended = appended || err == nil
				if err != nil {
					rp.ErrorCode = errorCode(err)
					s.log.Debug("txn marker refused", "topic", mt.Topic, "partition", index,
						"producer", m.ProducerID, "epoch", m.ProducerEpoch, "err", err)
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	if appended {
		s.cfg.Topics.Notify() // the last stable offset moved: wake read_committed fetches
	}
	return resp
}

// writeMarker writes one partition's marker.
func (s *Server) writeMarker(ctx context.Context, m kmsg.WriteTxnMarkersRequestMarker, name string,
	t *topics.Topic, ok bool, index int32) error {
	p, err := s.leaderPartition(t, ok, index, false, -1)
	if err != nil {
		return err
	}
	if name == consumerOffsetsTopic {
		if hook := s.cfg.OnTxnMarker; hook != nil {
			hook(name, index, m.ProducerID, m.ProducerEpoch, m.Committed)
		}
		return nil
	}
	nowMs := s.cfg.Now().UnixMilli()
	batch, err := partlog.BuildMarker(m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed, nowMs)
	if err != nil {
		return err
	}
	appendFn := func(leaderEpoch int32) (int64, error) {
		if leaderEpoch >= 0 {
			records.SetPartitionLeaderEpoch(batch, leaderEpoch)
		}
		res, err := p.Append(batch)
		if err != nil {
			return 0, producerError(err)
		}
		return res.LastOffset, nil
	}
	if s.cfg.Replication == nil {
		_, err := appendFn(-1)
		return err
	}
	wait, err := s.cfg.Replication.Produce(p.Topic.ID, p.Index, -1, markerReplicationTimeout, appendFn)
	if err != nil || wait == nil {
		return replicaErr(err)
	}
	// Followers parked in a fetch copy the marker now rather than at their
	// max wait: the high watermark this waits for depends on them.
	s.cfg.Topics.Notify()
	timer := time.NewTimer(markerReplicationTimeout + time.Second)
	defer timer.Stop()
	select {
	case err = <-wait:
	case <-timer.C:
		err = kerr.RequestTimedOut
	case <-ctx.Done():
		err = kerr.RequestTimedOut
	}
	if err != nil && !errors.Is(err, kerr.RequestTimedOut) {
		err = replicaErr(err)
	}
	return err
}
