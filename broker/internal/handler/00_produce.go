package handler

// Produce (key 0), versions 0-13.
//
// Versions 0-2 are advertised because librdkafka 2.0.x derives its
// compression support from them, but only v2 record batches (magic 2) are
// accepted at any version: older message sets get INVALID_RECORD on v3+ (as
// Kafka 4 answers) and UNSUPPORTED_FOR_MESSAGE_FORMAT on v0-2 (which Kafka 4
// refuses outright). Each partition's data
// must be exactly one batch (INVALID_RECORD otherwise, Kafka's v3+ rule).
// Every batch is CRC-checked and its records validated (CORRUPT_MESSAGE);
// a batch larger than the topic's max.message.bytes gets MESSAGE_TOO_LARGE.
// On a compacted topic (cleanup.policy contains compact) a batch with a
// keyless record gets INVALID_RECORD with v8+ ErrorRecords naming the
// records, as Kafka answers ("Compacted topic cannot accept message
// without key ..."); other partitions of the request are unaffected.
// The topic's compression.type recompresses batches whose codec differs
// (kept as sent when it is "producer"); message.timestamp.type=LogAppendTime
// stamps the broker's time. acks 0, 1 and -1 (all): with one replica the
// ISR is this node, so acks=all succeeds unless min.insync.replicas > 1
// (NOT_ENOUGH_REPLICAS). acks=0 gets no response. v13 addresses topics by id.
// Idempotent producers (batches with a producer id) are checked per
// partition by topics.Partition.Append (see package producers): a retried
// batch among the producer's last 5 is not appended again and is answered
// with its original base offset and no error; a stale epoch gets
// INVALID_PRODUCER_EPOCH (also after a marker from the coordinator raised
// the epoch: a fenced transactional producer's late writes), a sequence gap
// OUT_OF_ORDER_SEQUENCE_NUMBER.
// Transactional batches (the transactional attribute, a producer id) open
// the producer's transaction in the partition at their base offset; the
// transaction stays open, holding back the last stable offset, until
// WriteTxnMarkers appends its COMMIT or ABORT marker. A non-transactional
// batch from a producer whose transaction is open here gets
// INVALID_TXN_STATE, as in Kafka.
// KIP-890 part 1: with Config.VerifyTxnPartition set, a transactional
// batch that would open its producer's transaction in the partition is
// first verified with the transaction coordinator (was the partition added
// to that producer's ongoing transaction?), and refused with
// INVALID_TXN_STATE (or the hook's error) if not; without the hook it is
// accepted.
// Not implemented: Kafka's verification guard against a marker landing
// between the verification and the append.
//
// Cluster mode (cluster.go): only the partition's leader in the metadata
// image appends (NOT_LEADER_OR_FOLLOWER elsewhere; v10+ answers carry
// KIP-951's CurrentLeader and the leader's endpoint in NodeEndpoints).
// The append goes through the partition's replication state machine
// (replication.go, Config.Replication): it stamps the leader epoch in the
// batch; acks=0/1 complete on the local append; acks=-1 is refused with
// NOT_ENOUGH_REPLICAS while the ISR is below min.insync.replicas, else
// waits (bounded by the request timeout: REQUEST_TIMED_OUT) until the high
// watermark passes the batch, answering NOT_ENOUGH_REPLICAS_AFTER_APPEND if
// the ISR shrank below the minimum by then.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/broker/internal/faults"
	"github.com/highwater-io/highwater/broker/internal/producers"
	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

func init() { register(kmsg.Produce, 0, 13, (*Server).produce) }

// maxDecompressedBatchBytes bounds decompression of one batch while
// validating it, so a small compressed bomb cannot exhaust memory.
const maxDecompressedBatchBytes = 256 << 20

func (s *Server) produce(ctx context.Context, _ *Conn, req *kmsg.ProduceRequest) (*kmsg.ProduceResponse, error) {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	appended := false
	var waits []produceWait // acks=-1 outcomes in cluster mode
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *topics.Topic
		var ok bool
		if req.Version >= 13 {
			t, ok = s.cfg.Topics.GetByID(rt.TopicID)
		} else {
			t, ok = s.cfg.Topics.Get(rt.Topic)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			p, err := s.leaderPartition(t, ok, rp.Partition, req.Version >= 13, -1)
			if err == nil {
				err = s.checkAcks(req, t)
			}
			if err == nil {
				err = s.verifyTxnPartition(ctx, req, p, rp.Records)
			}
			var wait <-chan error
			if err == nil && s.cfg.Replication != nil {
				wait, err = s.replicatedAppend(p, req.Acks, req.TimeoutMillis, rp.Records, &sp)
				appended = appended || err == nil
			} else if err == nil {
				_, err = s.appendTo(p, rp.Records, &sp, -1)
				appended = appended || err == nil
			}
			if notLeader(err) && req.Version >= 10 && ok {
				s.produceLeaderHint(resp, t.ID, rp.Partition, &sp)
			}
			if req.Version >= 3 && errors.Is(err, records.ErrUnsupportedMagic) {
				// Kafka 4 checks v3+ requests for magic 2 first (INVALID_RECORD).
				err = kerrWithMessage(kerr.InvalidRecord, "produce v%d requires record batches of magic 2: %v", req.Version, err)
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				if req.Version >= 8 {
					sp.ErrorMessage = errorMessage(err)
				}
				s.log.Debug("produce refused", "topic", rt.Topic, "partition", rp.Partition, "err", err)
			}
			st.Partitions = append(st.Partitions, sp)
			if wait != nil {
				waits = append(waits, produceWait{ch: wait, index: [2]int{len(resp.Topics), len(st.Partitions) - 1}})
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	if appended {
		s.cfg.Topics.Notify()
	}
	for i := range waits {
		w := &waits[i]
		w.sp, w.version = &resp.Topics[w.index[0]].Partitions[w.index[1]], req.Version
	}
	s.waitProduce(ctx, time.Duration(req.TimeoutMillis)*time.Millisecond, waits)
	if d := faults.ProduceAnswerDelay(); d > 0 && appended {
		holdAnswer(ctx, d) // fault seam (faults/doc.go)
	}
	if req.Acks == 0 {
		return nil, nil
	}
	return resp, nil
}

// produceLeaderHint fills KIP-951's CurrentLeader and NodeEndpoints.
func (s *Server) produceLeaderHint(resp *kmsg.ProduceResponse, topicID [16]byte, index int32, sp *kmsg.ProduceResponseTopicPartition) {
	leader, epoch, ep := s.currentLeader(topicID, index)
	sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = leader, epoch
	if ep == nil {
		return
	}
	for _, b := range resp.Brokers {
		if b.NodeID == leader {
			return
		}
	}
	b := kmsg.NewProduceResponseBroker()
	b.NodeID, b.Host, b.Port = leader, ep.Host, ep.Port
	resp.Brokers = append(resp.Brokers, b)
}

func (s *Server) checkAcks(req *kmsg.ProduceRequest, t *topics.Topic) error {
	switch req.Acks {
	case 0, 1:
		return nil
	case -1:
		if s.cfg.Replication != nil {
			return nil // the partition's state machine checks the ISR
		}
		const isrSize = 1 // this single node
		if minISR := s.cfg.Broker.TopicInt64(t.Configs(), "min.insync.replicas"); minISR > isrSize {
			return kerrWithMessage(kerr.NotEnoughReplicas, "the ISR has %d replica, min.insync.replicas is %d", isrSize, minISR)
		}
		return nil
	}
	return kerrWithMessage(kerr.InvalidRequiredAcks, "acks must be -1, 0 or 1, got %d", req.Acks)
}

// verifyTxnPartition applies Config.VerifyTxnPartition to a transactional
// batch whose producer has no open transaction in p yet. Malformed data is
// left to the append path's validation. KIP-890 part 2: for Produce v12+
// for a Produce v12+ request (the transaction version 2 protocol, which
// Kafka infers from the request version whatever the finalized level) the
// hook adds the partition to the transaction
// (ProduceAddsTxnPartition tells it so) for every batch, even when the
// producer's transaction is open here at the batch's epoch (Kafka skips
// the coordinator then): a client that switches to version 2 mid-session
// (franz-go does at a BeginTransaction once it learns the feature) runs
// its first version 2 transaction at the epoch of its last old one, whose
// marker may not have reached this partition yet; only the coordinator
// knows the batch belongs to the next transaction (it answers
// CONCURRENT_TRANSACTIONS until the markers are written). An add the
// transaction already holds costs the coordinator no write.
func (s *Server) verifyTxnPartition(ctx context.Context, req *kmsg.ProduceRequest, p *topics.Partition, data []byte) error {
	verify := s.cfg.VerifyTxnPartition
	if verify == nil {
		return nil
	}
	h, err := records.ReadHeader(data)
	if err != nil || !h.Transactional() || h.Control() || h.ProducerID < 0 {
		return nil
	}
	if req.Version >= 12 { // the version-2 protocol, at any level (as Kafka decides it)
		ctx = context.WithValue(ctx, txnAddKey{}, true)
	} else if _, open := p.Log.OpenTxnFirstOffset(h.ProducerID); open {
		return nil
	}
	var txnID string
	if req.TransactionID != nil {
		txnID = *req.TransactionID
	}
	if err := verify(ctx, txnID, h.ProducerID, h.ProducerEpoch, p.Topic.Name, p.Index); err != nil {
		var ke *kerr.Error
		if errors.As(err, &ke) {
			if ke == kerr.TransactionAbortable && req.Version <= 10 { // v11 added the code (KIP-890)
				return kerrWithMessage(kerr.InvalidTxnState, "partition %s-%d was not added to the transaction", p.Topic.Name, p.Index)
			}
			return err
		}
		return kerrWithMessage(kerr.InvalidTxnState, "partition %s-%d is not in the transaction of producer %d epoch %d: %v",
			p.Topic.Name, p.Index, h.ProducerID, h.ProducerEpoch, err)
	}
	return nil
}

// producerError maps the idempotence checks' sentinels to Kafka codes.
func producerError(err error) error {
	switch {
	case errors.Is(err, producers.ErrInvalidProducerEpoch):
		return kerrWithMessage(kerr.InvalidProducerEpoch, "%v", err)
	case errors.Is(err, producers.ErrOutOfOrderSequence):
		return kerrWithMessage(kerr.OutOfOrderSequenceNumber, "%v", err)
	case errors.Is(err, producers.ErrInvalidBatch):
		return kerrWithMessage(kerr.InvalidRecord, "%v", err)
	case errors.Is(err, producers.ErrInvalidTxnState):
		return kerrWithMessage(kerr.InvalidTxnState, "%v", err)
	case errors.Is(err, producers.ErrCoordinatorFenced):
		return kerrWithMessage(kerr.TransactionCoordinatorFenced, "%v", err)
	}
	return err
}

// appendTo validates, converts and appends one partition's data.
// leaderEpoch >= 0 is stamped in the batch (cluster mode: the epoch this
// leader appends in). It returns the batch's last offset.
func (s *Server) appendTo(p *topics.Partition, data []byte, sp *kmsg.ProduceResponseTopicPartition, leaderEpoch int32) (int64, error) {
	batches, err := records.SplitBatches(data)
	if err != nil {
		return 0, err
	}
	if len(batches) != 1 {
		return 0, kerrWithMessage(kerr.InvalidRecord, "a produce request must carry exactly one record batch per partition, got %d", len(batches))
	}
	batch := batches[0]
	overrides := p.Topic.Configs()
	policy, _ := s.cfg.Broker.Topic(overrides, "cleanup.policy")
	_, compacted := config.CleanupPolicy(policy)
	v, err := records.ValidateBatch(batch, records.ValidateOptions{MaxDecompressedBytes: maxDecompressedBatchBytes, RequireKeys: compacted})
	h := v.Header
	if verr := (*records.ValidationError)(nil); errors.As(err, &verr) {
		// Kafka names the records it refused (v8+ ErrorRecords): a keyless
		// record on a compacted topic is INVALID_RECORD, this partition only.
		for _, re := range verr.Records {
			msg := re.Err.Error()
			if compacted && !errors.Is(re.Err, records.ErrInvalidTimestamp) {
				msg = fmt.Sprintf("Compacted topic cannot accept message without key in topic partition %s-%d.", p.Topic.Name, p.Index)
			}
			sp.ErrorRecords = append(sp.ErrorRecords, kmsg.ProduceResponseTopicPartitionErrorRecord{RelativeOffset: int32(re.Index), ErrorMessage: &msg})
		}
		if compacted && !errors.Is(err, records.ErrInvalidTimestamp) {
			return 0, kerrWithMessage(kerr.InvalidRecord, "Compacted topic cannot accept message without key in topic partition %s-%d.", p.Topic.Name, p.Index)
		}
	}
	if err != nil {
		return 0, err
	}
	if h.Transactional() && h.ProducerID < 0 {
		return 0, kerrWithMessage(kerr.InvalidRecord, "a transactional batch needs a producer id")
	}
	if h.Control() {
		return 0, kerrWithMessage(kerr.InvalidRecord, "clients may not write control batches")
	}
	if max := s.cfg.Broker.TopicInt64(overrides, "max.message.bytes"); int64(len(batch)) > max {
		return 0, kerrWithMessage(kerr.MessageTooLarge, "batch of %d bytes exceeds max.message.bytes %d", len(batch), max)
	}
	if want, _ := s.cfg.Broker.Topic(overrides, "compression.type"); want != "producer" {
		codec, err := records.ParseCodec(want)
		if err != nil {
			return 0, err
		}
		if codec != h.Codec() {
			if batch, err = records.Recompress(batch, codec); err != nil {
				return 0, err
			}
		}
	}
	if tsType, _ := s.cfg.Broker.Topic(overrides, "message.timestamp.type"); tsType == "LogAppendTime" {
		now := s.cfg.Now().UnixMilli()
		records.SetLogAppendTime(batch, now)
		sp.LogAppendTime = now
	}
	if leaderEpoch >= 0 {
		records.SetPartitionLeaderEpoch(batch, leaderEpoch)
	}
	res, err := p.Append(batch)
	if err != nil {
		if perr := producerError(err); perr != err {
			return 0, perr
		}
		if !errors.Is(err, records.ErrCorrupt) {
			s.log.Error("append failed", "topic", p.Topic.Name, "partition", p.Index, "err", err)
		}
		return 0, err
	}
	sp.BaseOffset, sp.LogStartOffset = res.BaseOffset, res.LogStartOffset
	if !res.Duplicate {
		s.cfg.Metrics.Produced(p.Topic.Name, len(batches[0]), int(h.NumRecords)) // as the client sent it
	}
	if res.Duplicate && sp.LogAppendTime >= 0 {
		sp.LogAppendTime = res.OriginalMaxTimestamp // the original append time
	}
	return res.LastOffset, nil
}

// holdAnswer waits d or until ctx ends: the produce-answer-delay fault seam.
func holdAnswer(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
