package handler

// Cluster mode data plane: what Produce and Fetch ask of the replication
// driver (broker/replication.go), which owns one replica.Partition state
// machine per hosted partition. With Config.Replication nil (single-node
// mode) none of this runs.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/replica"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

// Replication is the replication driver as the handlers see it.
type Replication interface {
	// Produce checks the append against the partition's state machine
	// (leadership, min.insync.replicas for acks=-1), runs appendFn under the
	// partition's lock with the leader epoch to stamp in the batch, and
	// registers the produce. The returned channel (nil when the produce is
	// complete already: acks 0/1) yields the acks=-1 outcome: nil once the
	// high watermark passed the batch, else a replica error.
	Produce(topicID [16]byte, index int32, acks int16, timeout time.Duration,
		appendFn func(leaderEpoch int32) (lastOffset int64, err error)) (<-chan error, error)
	// HighWatermark is what consumers may read up to.
	HighWatermark(topicID [16]byte, index int32) (int64, error)
	// LatestOffset is what ListOffsets latest answers: the high watermark,
	// or OFFSET_NOT_AVAILABLE while a new leader's is below its leader
	// epoch's start offset (KIP-207).
	LatestOffset(topicID [16]byte, index int32) (int64, error)
	// FollowerFetch steps a follower's fetch into the leader's state machine
	// and returns its answer for the partition.
	FollowerFetch(topicID [16]byte, index int32, f replica.FollowerFetch) (replica.FetchResult, error)
	// EndOffsetForEpoch answers OffsetForLeaderEpoch from the leader's
	// leader-epoch cache (currentLeaderEpoch -1: unchecked).
	EndOffsetForEpoch(topicID [16]byte, index int32, currentLeaderEpoch, epoch int32) (replica.EpochEndOffset, error)
}

// replicaErr maps a replica package error to the Kafka error.
func replicaErr(err error) error {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return err
	}
	if code := replica.Code(err); code != kerr.UnknownServerError.Code {
		return kerrWithMessage(kerr.ErrorForCode(code).(*kerr.Error), "%v", err)
	}
	return err
}

// waitProduce waits for the acks=-1 outcomes of one produce request,
// bounded by its timeout (the state machine answers REQUEST_TIMED_OUT at
// the same deadline; the timer is a safety net).
func (s *Server) waitProduce(ctx context.Context, timeout time.Duration, waits []produceWait) {
	timer := time.NewTimer(timeout + time.Second)
	defer timer.Stop()
	for _, w := range waits {
		var err error
		select {
		case err = <-w.ch:
		case <-timer.C:
			err = replica.ErrRequestTimedOut
		case <-ctx.Done():
			err = replica.ErrRequestTimedOut
		}
		if err != nil {
			err = replicaErr(err)
			w.sp.ErrorCode = errorCode(err)
			if w.version >= 8 {
				w.sp.ErrorMessage = errorMessage(err)
			}
		}
	}
}

// produceWait is one partition's pending acks=-1 outcome.
type produceWait struct {
	ch      <-chan error
	index   [2]int // topic and partition position in the response
	sp      *kmsg.ProduceResponseTopicPartition
	version int16
}

// replicatedAppend appends one partition's data through the replication
// driver.
func (s *Server) replicatedAppend(p *topics.Partition, acks int16, timeoutMs int32, data []byte,
	sp *kmsg.ProduceResponseTopicPartition) (<-chan error, error) {
	ch, err := s.cfg.Replication.Produce(p.Topic.ID, p.Index, acks, time.Duration(timeoutMs)*time.Millisecond,
		func(epoch int32) (int64, error) { return s.appendTo(p, data, sp, epoch) })
	return ch, replicaErr(err)
}

// replicaFetch answers a follower's Fetch (a replica id set): every
// partition goes through the leader's state machine, records are read up
// to the log end from where it says, and the answer waits up to
// MaxWaitMillis for records when there are none. As Kafka's fetch
// purgatory does, it answers at once, records or not, when a partition
// has an error (not leader, fenced epoch, offset out of range, unknown
// partition) or a diverging epoch: the follower must truncate or find the
// new leader now, and a follower held for its whole long poll keeps a
// stale high watermark it may be elected with. A moved high watermark
// alone does not end the wait (Kafka's follower fetches wait for bytes at
// the log end; the follower learns the high watermark with the next
// records or at its max wait).
func (s *Server) replicaFetch(ctx context.Context, req *kmsg.FetchRequest, replicaID int32) (*kmsg.FetchResponse, error) {
	maxWait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	for {
		wake := s.cfg.Topics.Wait()
		resp, bytes, urgent := s.readReplicaFetch(req, replicaID)
		if bytes > 0 || urgent || maxWait <= 0 {
			return resp, nil
		}
		select {
		case <-wake:
			continue
		case <-timer.C:
			return resp, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// readReplicaFetch reads every partition of a follower's fetch once. It
// returns the answer, the record bytes in it, and whether some partition
// carries an error or a diverging epoch (the answer must not wait).
func (s *Server) readReplicaFetch(req *kmsg.FetchRequest, replicaID int32) (resp *kmsg.FetchResponse, bytes int, urgent bool) {
	resp = req.ResponseKind().(*kmsg.FetchResponse)
	nowMs := s.cfg.Now().UnixMilli()
	for _, rt := range req.Topics {
		ot := kmsg.NewFetchResponseTopic()
		ot.Topic, ot.TopicID = rt.Topic, rt.TopicID
		var name *string
		if req.Version < 13 {
			name = &rt.Topic
		}
		t, ok := s.lookupTopic(name, rt.TopicID)
		for _, rp := range rt.Partitions {
			op := kmsg.NewFetchResponseTopicPartition()
			op.Partition = rp.Partition
			op.HighWatermark, op.LastStableOffset, op.LogStartOffset = -1, -1, -1
			op.PreferredReadReplica = -1
			op.RecordBatches = []byte{}
			diverging, err := s.readReplicaPartition(t, ok, name == nil, rp, replicaID, nowMs, &op)
			if err != nil {
				op.ErrorCode = errorCode(err)
			}
			urgent = urgent || diverging || op.ErrorCode != 0
			bytes += len(op.RecordBatches)
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp, bytes, urgent
}

// readReplicaPartition fills one partition's answer; diverging reports a
// diverging epoch in it.
func (s *Server) readReplicaPartition(t *topics.Topic, ok, byID bool, rp kmsg.FetchRequestTopicPartition, replicaID int32,
	nowMs int64, op *kmsg.FetchResponseTopicPartition) (diverging bool, err error) {
	p, err := s.partition(t, ok, rp.Partition, byID)
	if err != nil {
		return false, err
	}
	res, err := s.cfg.Replication.FollowerFetch(t.ID, rp.Partition, replica.FollowerFetch{
		ReplicaID: replicaID, CurrentLeaderEpoch: rp.CurrentLeaderEpoch, FetchOffset: rp.FetchOffset,
		LastFetchedEpoch: rp.LastFetchedEpoch, LogStartOffset: rp.LogStartOffset, NowMs: nowMs,
	})
	if err != nil {
		return false, replicaErr(err)
	}
	op.HighWatermark, op.LastStableOffset, op.LogStartOffset = res.HighWatermark, res.HighWatermark, res.LogStartOffset
	if res.Err != nil {
		return false, replicaErr(res.Err)
	}
	if res.Diverging != nil {
		op.DivergingEpoch.Epoch, op.DivergingEpoch.EndOffset = res.Diverging.Epoch, res.Diverging.EndOffset
		return true, nil
	}
	if res.ReadOffset < 0 {
		return false, nil
	}
	data, err := p.Log.Read(res.ReadOffset, max(int(rp.PartitionMaxBytes), 1), res.LogEndOffset)
	if err != nil {
		return false, err
	}
	if data != nil {
		op.RecordBatches = data
	}
	return false, nil
}
