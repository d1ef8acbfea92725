package txn

// The Kafka API surface of a Service: each method takes the decoded
// request (its version set) and returns the response for that version.

import (
	"context"
	"errors"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetsTopic is the group offsets topic AddOffsetsToTxn adds.
const OffsetsTopic = "__consumer_offsets"

// code is the response code of err for a request of version v, where
// PRODUCER_FENCED exists from fencedSince (KIP-588); older clients get
// INVALID_PRODUCER_EPOCH.
func code(err error, v, fencedSince int16) int16 {
	if err == nil {
		return 0
	}
	if errors.Is(err, kerr.ProducerFenced) && v < fencedSince {
		return kerr.InvalidProducerEpoch.Code
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// InitProducerID answers InitProducerId (v0-5) for a non-null
// transactional id.
func (s *Service) InitProducerID(_ context.Context, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	var expected *ProducerIDAndEpoch
	if req.Version >= 3 && req.ProducerID >= 0 {
		expected = &ProducerIDAndEpoch{ProducerID: req.ProducerID, Epoch: req.ProducerEpoch}
	}
	id := ""
	if req.TransactionalID != nil {
		id = *req.TransactionalID
	}
	d := s.decide(func(now time.Time) Decision {
		return s.c.InitProducerID(now, id, req.TransactionTimeoutMillis, expected)
	})
	resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code(d.Err, req.Version, 4), d.ProducerID, d.ProducerEpoch
	if d.Err != nil {
		resp.ProducerID, resp.ProducerEpoch = -1, -1
	}
	return resp
}

// AddPartitionsToTxn answers v0-3 (one transaction from a client) and
// v4-5 (a batch from a broker, KIP-890 part 1, with verifyOnly; v5
// entries without verifyOnly add for a Produce v12+ batch and mark the
// transaction as transaction version 2).
func (s *Service) AddPartitionsToTxn(_ context.Context, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version < 4 {
		topics := make([]kmsg.AddPartitionsToTxnRequestTransactionTopic, len(req.Topics))
		for i, t := range req.Topics {
			topics[i] = kmsg.AddPartitionsToTxnRequestTransactionTopic{Topic: t.Topic, Partitions: t.Partitions}
		}
		one := s.addOne(req.Version, kmsg.AddPartitionsToTxnRequestTransaction{TransactionalID: req.TransactionalID,
			ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch, Topics: topics})
		for _, t := range one.Topics {
			rt := kmsg.AddPartitionsToTxnResponseTopic{Topic: t.Topic}
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, kmsg.AddPartitionsToTxnResponseTopicPartition{Partition: p.Partition, ErrorCode: p.ErrorCode})
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, t := range req.Transactions {
		resp.Transactions = append(resp.Transactions, s.addOne(req.Version, t))
	}
	return resp
}

// addOne adds (or, verifyOnly, checks) one transaction's partitions. As
// in Kafka, unknown partitions fail the whole request without touching the
// transaction: they get UNKNOWN_TOPIC_OR_PARTITION, the others
// OPERATION_NOT_ATTEMPTED.
func (s *Service) addOne(version int16, t kmsg.AddPartitionsToTxnRequestTransaction) kmsg.AddPartitionsToTxnResponseTransaction {
	var parts []TopicPartition
	unknown := map[TopicPartition]bool{}
	for _, rt := range t.Topics {
		for _, p := range rt.Partitions {
			tp := TopicPartition{rt.Topic, p}
			parts = append(parts, tp)
			if s.cfg.PartitionExists != nil && !s.cfg.PartitionExists(rt.Topic, p) {
				unknown[tp] = true
			}
		}
	}
	codes := map[TopicPartition]int16{}
	switch {
	case len(unknown) > 0:
		for _, tp := range parts {
			codes[tp] = kerr.OperationNotAttempted.Code
			if unknown[tp] {
				codes[tp] = kerr.UnknownTopicOrPartition.Code
			}
		}
	case t.VerifyOnly:
		s.mu.Lock()
		res, err := s.c.VerifyPartitions(t.TransactionalID, t.ProducerID, t.ProducerEpoch, parts)
		s.mu.Unlock()
		for _, tp := range parts {
			if err != nil {
				codes[tp] = code(err, version, 2)
			} else {
				codes[tp] = code(res[tp], version, 2)
			}
		}
	default:
		tv := int16(0)
		if version >= 5 {
			tv = TV2 // a partition leader adding for a Produce v12+ batch
		}
		d := s.decide(func(now time.Time) Decision {
			return s.c.AddPartitionsTV(now, t.TransactionalID, t.ProducerID, t.ProducerEpoch, parts, tv)
		})
		for _, tp := range parts {
			codes[tp] = code(d.Err, version, 2)
		}
	}
	out := kmsg.AddPartitionsToTxnResponseTransaction{TransactionalID: t.TransactionalID}
	for _, rt := range t.Topics {
		ot := kmsg.AddPartitionsToTxnResponseTransactionTopic{Topic: rt.Topic}
		for _, p := range rt.Partitions {
			ot.Partitions = append(ot.Partitions, kmsg.AddPartitionsToTxnResponseTransactionTopicPartition{
				Partition: p, ErrorCode: codes[TopicPartition{rt.Topic, p}]})
		}
		out.Topics = append(out.Topics, ot)
	}
	return out
}

// AddOffsetsToTxn answers v0-4: the group's __consumer_offsets partition
// joins the transaction, so the commit marker reaches the offsets sent
// with TxnOffsetCommit.
func (s *Service) AddOffsetsToTxn(_ context.Context, req *kmsg.AddOffsetsToTxnRequest) *kmsg.AddOffsetsToTxnResponse {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	if s.cfg.OffsetsPartition == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	p, err := s.cfg.OffsetsPartition(req.Group)
	if err != nil {
		resp.ErrorCode = code(err, req.Version, 2)
		return resp
	}
	d := s.decide(func(now time.Time) Decision {
		return s.c.AddPartitions(now, req.TransactionalID, req.ProducerID, req.ProducerEpoch, []TopicPartition{{OffsetsTopic, p}})
	})
	resp.ErrorCode = code(d.Err, req.Version, 2)
	return resp
}

// EndTxn answers v0-5 once the PrepareCommit/PrepareAbort is durable; the
// markers follow asynchronously, as in Kafka. v5 is transaction version
// 2 (EndTxnTV2): the reply carries the producer's next id and epoch.
func (s *Service) EndTxn(_ context.Context, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	d := s.decide(func(now time.Time) Decision {
		if req.Version >= 5 {
			return s.c.EndTxnTV2(now, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
		}
		return s.c.EndTxn(now, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
	})
	resp.ErrorCode = code(d.Err, req.Version, 2)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.Version >= 5 && d.Err == nil {
		resp.ProducerID, resp.ProducerEpoch = d.ProducerID, d.ProducerEpoch
	}
	return resp
}

// DescribeTransactions answers v0 for the ids this Service coordinates;
// unknown ids get TRANSACTIONAL_ID_NOT_FOUND.
func (s *Service) DescribeTransactions(_ context.Context, req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		resp.TransactionStates = append(resp.TransactionStates, s.DescribeOne(id))
	}
	return resp
}

// DescribeOne is one DescribeTransactions entry.
func (s *Service) DescribeOne(id string) kmsg.DescribeTransactionsResponseTransactionState {
	st := kmsg.NewDescribeTransactionsResponseTransactionState()
	st.TransactionalID = id
	m, ok := s.Describe(id)
	if !ok {
		st.ErrorCode = kerr.TransactionalIDNotFound.Code
		st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
		return st
	}
	st.State, st.TimeoutMillis, st.StartTimestamp = m.State.String(), m.TimeoutMs, m.StartMs
	st.ProducerID, st.ProducerEpoch = m.ProducerID, m.ProducerEpoch
	for _, tp := range m.SortedPartitions() {
		if n := len(st.Topics); n > 0 && st.Topics[n-1].Topic == tp.Topic {
			st.Topics[n-1].Partitions = append(st.Topics[n-1].Partitions, tp.Partition)
			continue
		}
		st.Topics = append(st.Topics, kmsg.DescribeTransactionsResponseTransactionStateTopic{Topic: tp.Topic, Partitions: []int32{tp.Partition}})
	}
	return st
}

// ListFilter is ListTransactions' filters; zero values filter nothing.
type ListFilter struct {
	States      map[State]bool
	ProducerIDs map[int64]bool
	// MinDurationMs (v1; -1: none) keeps only transactions that started
	// more than this long ago, as Kafka compares (an id with no open
	// transaction has start -1 and always passes).
	MinDurationMs int64
	Pattern       *regexp.Regexp // v2
}

// ParseListFilter turns a request into a filter, reporting the state
// names it does not know (answered in UnknownStateFilters) and whether
// the id pattern is a valid regular expression.
func ParseListFilter(req *kmsg.ListTransactionsRequest) (f ListFilter, unknown []string, err error) {
	f.MinDurationMs = -1
	for _, n := range req.StateFilters {
		st, ok := ParseState(n)
		if !ok {
			unknown = append(unknown, n)
			continue
		}
		if f.States == nil {
			f.States = map[State]bool{}
		}
		f.States[st] = true
	}
	for _, p := range req.ProducerIDFilters {
		if f.ProducerIDs == nil {
			f.ProducerIDs = map[int64]bool{}
		}
		f.ProducerIDs[p] = true
	}
	if req.Version >= 1 {
		f.MinDurationMs = req.DurationFilterMillis
	}
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		if f.Pattern, err = regexp.Compile(*req.TransactionalIDPattern); err != nil {
			return f, unknown, err
		}
	}
	return f, unknown, nil
}

// List returns the transactions matching f.
func (s *Service) List(now time.Time, f ListFilter, unknownStatesOnly bool) []kmsg.ListTransactionsResponseTransactionState {
	var out []kmsg.ListTransactionsResponseTransactionState
	if unknownStatesOnly {
		return out // every state filter named an unknown state: nothing matches
	}
	for _, m := range s.All() {
		switch {
		case f.States != nil && !f.States[m.State],
			f.ProducerIDs != nil && !f.ProducerIDs[m.ProducerID],
			f.MinDurationMs >= 0 && now.UnixMilli()-m.StartMs <= f.MinDurationMs,
			f.Pattern != nil && !f.Pattern.MatchString(m.TransactionalID):
			continue
		}
		out = append(out, kmsg.ListTransactionsResponseTransactionState{TransactionalID: m.TransactionalID,
			ProducerID: m.ProducerID, TransactionState: m.State.String()})
	}
	return out
}

// ListTransactions answers v0-2.
func (s *Service) ListTransactions(_ context.Context, req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	f, unknown, err := ParseListFilter(req)
	resp.UnknownStateFilters = unknown
	if err != nil {
		resp.ErrorCode = kerr.InvalidRegularExpression.Code
		return resp
	}
	resp.TransactionStates = s.List(s.cfg.Now(), f, len(req.StateFilters) > 0 && f.States == nil)
	return resp
}

// VerifyPartition answers a partition leader's KIP-890 part 1 question:
// does the producer's ongoing transaction hold tp? nil if so; otherwise
// INVALID_TXN_STATE, or the producer's error (PRODUCER_FENCED,
// INVALID_PRODUCER_ID_MAPPING).
func (s *Service) VerifyPartition(id string, pid int64, epoch int16, tp TopicPartition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.c.VerifyPartitions(id, pid, epoch, []TopicPartition{tp})
	if err != nil {
		return err
	}
	return res[tp]
}

// AddPartition is the partition leader's KIP-890 part 2 step for a
// Produce v12+ transactional batch: tp joins the producer's transaction
// (starting it if none is open), as a transaction version 2 one. nil once
// that is durable; otherwise the coordinator's error (PRODUCER_FENCED,
// INVALID_PRODUCER_ID_MAPPING, CONCURRENT_TRANSACTIONS while the previous
// transaction's markers are written, UNKNOWN_TOPIC_OR_PARTITION, ...).
func (s *Service) AddPartition(id string, pid int64, epoch int16, tp TopicPartition) error {
	if s.cfg.PartitionExists != nil && !s.cfg.PartitionExists(tp.Topic, tp.Partition) {
		return kerr.UnknownTopicOrPartition
	}
	return s.decide(func(now time.Time) Decision {
		return s.c.AddPartitionsTV(now, id, pid, epoch, []TopicPartition{tp}, TV2)
	}).Err
}

// AddOffsetsTV2 is the implicit AddOffsetsToTxn of TxnOffsetCommit v5+
// (transaction version 2): the group's __consumer_offsets partition joins
// the producer's transaction.
func (s *Service) AddOffsetsTV2(id string, pid int64, epoch int16, group string) error {
	if s.cfg.OffsetsPartition == nil {
		return kerr.CoordinatorNotAvailable
	}
	p, err := s.cfg.OffsetsPartition(group)
	if err != nil {
		return err
	}
	return s.decide(func(now time.Time) Decision {
		return s.c.AddPartitionsTV(now, id, pid, epoch, []TopicPartition{{OffsetsTopic, p}}, TV2)
	}).Err
}

// VerifyOffsets is the group coordinator's KIP-890 part 1 check before a
// TxnOffsetCommit v0-4: is the group's __consumer_offsets partition in the
// producer's open transaction (added by AddOffsetsToTxn)? nil if so;
// otherwise VerifyPartition's error (TRANSACTION_ABORTABLE when it is not,
// PRODUCER_FENCED, INVALID_PRODUCER_ID_MAPPING, CONCURRENT_TRANSACTIONS).
func (s *Service) VerifyOffsets(id string, pid int64, epoch int16, group string) error {
	if s.cfg.OffsetsPartition == nil {
		return kerr.CoordinatorNotAvailable
	}
	p, err := s.cfg.OffsetsPartition(group)
	if err != nil {
		return err
	}
	return s.VerifyPartition(id, pid, epoch, TopicPartition{OffsetsTopic, p})
}

// TransactionVersion is the broker's finalized transaction.version this
// Service was configured with (at least 1).
func (s *Service) TransactionVersion() int16 { return max(s.cfg.Coordinator.TransactionVersion, 1) }
