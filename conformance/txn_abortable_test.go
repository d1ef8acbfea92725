package conformance

// KIP-890 part 1 on the wire: a transactional batch for a partition its
// producer never added to the transaction. The partition leader asks the
// transaction coordinator (AddPartitionsToTxn v4, verifyOnly), which
// answers TRANSACTION_ABORTABLE for the partition; the leader hands that
// code to Produce v11 and newer and INVALID_TXN_STATE to older producers,
// which do not know it. Apache Kafka 4.1.1 answers the same
// (TransactionCoordinator.handleVerifyPartitionsInTransaction,
// AddPartitionsToTxnManager).

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// buildTxnBatch is buildIdempotentBatch with the transactional attribute.
func buildTxnBatch(timestampMillis, producerID int64, epoch int16, firstSeq int32, recs ...rawRecord) []byte {
	raw := buildIdempotentBatch(timestampMillis, producerID, epoch, firstSeq, recs...)
	binary.BigEndian.PutUint16(raw[21:], 0x10) // attributes: transactional, no codec
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

func TestTxnProduceOutsideTransactionIsAbortable(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	tg := newTarget(t, nil)
	topic := tg.createTopic(ctx, 1, nil)
	txnID := uniqueName(t, "abortable")

	// InitProducerId through franz-go, which finds (and waits for) the
	// coordinator; the target is one node, so it also leads the topic.
	cl := tg.client()
	var pid int64
	var epoch int16
	eventually(t, ctx, "InitProducerId", func() error {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = &txnID, 60000
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		pid, epoch = resp.ProducerID, resp.ProducerEpoch
		return kerr.ErrorForCode(resp.ErrorCode)
	})

	c := dialRaw(t, tg.Bootstrap)
	verify := func() int16 {
		t.Helper()
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.Version = c.version(kmsg.AddPartitionsToTxn, 4)
		if req.Version != 4 {
			t.Fatalf("AddPartitionsToTxn v4 not served (v%d)", req.Version)
		}
		req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{{TransactionalID: txnID, ProducerID: pid,
			ProducerEpoch: epoch, VerifyOnly: true,
			Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: topic, Partitions: []int32{0}}}}}
		resp := c.roundTrip(req).(*kmsg.AddPartitionsToTxnResponse)
		if resp.ErrorCode != 0 || len(resp.Transactions) != 1 || len(resp.Transactions[0].Topics) != 1 ||
			len(resp.Transactions[0].Topics[0].Partitions) != 1 {
			t.Fatalf("AddPartitionsToTxn v4 verifyOnly: %+v", resp)
		}
		return resp.Transactions[0].Topics[0].Partitions[0].ErrorCode
	}
	produce := func(version int16, seq int32) int16 {
		t.Helper()
		req := produceRequest(version, topic, 0, buildTxnBatch(time.Now().UnixMilli(), pid, epoch, seq, rawRecord{Value: []byte("v")}))
		req.TransactionID = &txnID
		resp := c.roundTrip(req).(*kmsg.ProduceResponse)
		return resp.Topics[0].Partitions[0].ErrorCode
	}

	if code := verify(); code != kerr.TransactionAbortable.Code {
		t.Errorf("verifyOnly for a partition not in the transaction: %v, want TRANSACTION_ABORTABLE", kerr.ErrorForCode(code))
	}
	if code := produce(11, 0); code != kerr.TransactionAbortable.Code {
		t.Errorf("Produce v11 outside the transaction: %v, want TRANSACTION_ABORTABLE", kerr.ErrorForCode(code))
	}
	if code := produce(10, 0); code != kerr.InvalidTxnState.Code {
		t.Errorf("Produce v10 outside the transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}

	// Once added (AddPartitionsToTxn v3, a client's), the same batch is
	// accepted.
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version = 3
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = txnID, pid, epoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: []int32{0}}}
	if resp := c.roundTrip(add).(*kmsg.AddPartitionsToTxnResponse); resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("AddPartitionsToTxn v3: %v", kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode))
	}
	if code := verify(); code != 0 {
		t.Errorf("verifyOnly for an added partition: %v", kerr.ErrorForCode(code))
	}
	if code := produce(11, 0); code != 0 {
		t.Errorf("Produce v11 inside the transaction: %v", kerr.ErrorForCode(code))
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.Version = 3
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = txnID, pid, epoch, false
	if resp := c.roundTrip(end).(*kmsg.EndTxnResponse); resp.ErrorCode != 0 {
		t.Errorf("EndTxn v3 (abort): %v", kerr.ErrorForCode(resp.ErrorCode))
	}
}

// TxnOffsetCommit without AddOffsetsToTxn: the group coordinator verifies
// the group's __consumer_offsets partition with the transaction
// coordinator as a partition leader does, and answers every partition
// TRANSACTION_ABORTABLE from v4 and INVALID_TXN_STATE to v0-3 (Kafka
// 4.1.1: CoordinatorPartitionWriter.maybeStartTransactionVerification,
// AddPartitionsToTxnManager.txnOffsetCommitRequestVersionToTransactionSupportedOperation).
// After AddOffsetsToTxn the same commit succeeds.
func TestTxnOffsetCommitOutsideTransactionIsAbortable(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	tg := newTarget(t, nil)
	topic := tg.createTopic(ctx, 1, nil)
	txnID, group := uniqueName(t, "abortable-offsets"), uniqueName(t, "g")
	cl := tg.client()
	var pid int64
	var epoch int16
	eventually(t, ctx, "InitProducerId", func() error {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = &txnID, 60000
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		pid, epoch = resp.ProducerID, resp.ProducerEpoch
		return kerr.ErrorForCode(resp.ErrorCode)
	})
	eventually(t, ctx, "FindCoordinator (group)", func() error { // creates __consumer_offsets on Kafka
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = group
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.ErrorCode)
	})

	c := dialRaw(t, tg.Bootstrap)
	commit := func(version int16) []int16 {
		t.Helper()
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version = version
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txnID, group, pid, epoch
		req.Generation = -1
		req.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: topic,
			Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, LeaderEpoch: -1}}}}
		resp := c.roundTrip(req).(*kmsg.TxnOffsetCommitResponse)
		var codes []int16
		for _, rt := range resp.Topics {
			for _, p := range rt.Partitions {
				codes = append(codes, p.ErrorCode)
			}
		}
		return codes
	}
	for _, tc := range []struct {
		version int16
		want    *kerr.Error
	}{{4, kerr.TransactionAbortable}, {3, kerr.InvalidTxnState}, {2, kerr.InvalidTxnState}} {
		if codes := commit(tc.version); len(codes) != 1 || codes[0] != tc.want.Code {
			t.Errorf("TxnOffsetCommit v%d outside the transaction: %v, want [%v]", tc.version, codes, tc.want)
		}
	}

	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.Version = 3
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, pid, epoch, group
	if resp := c.roundTrip(add).(*kmsg.AddOffsetsToTxnResponse); resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn v3: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if codes := commit(4); len(codes) != 1 || codes[0] != 0 {
		t.Errorf("TxnOffsetCommit v4 after AddOffsetsToTxn: %v", codes)
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.Version = 3
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = txnID, pid, epoch, false
	if resp := c.roundTrip(end).(*kmsg.EndTxnResponse); resp.ErrorCode != 0 {
		t.Errorf("EndTxn v3 (abort): %v", kerr.ErrorForCode(resp.ErrorCode))
	}
}
