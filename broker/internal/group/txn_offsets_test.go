package group

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnMemStore keeps transactional records too (a TxnStore).
type txnMemStore struct{ memStore }

func (s *txnMemStore) AppendTxn(records []KV) error { return s.Append(records) }

func txnCommit(svc *Service, pid int64, epoch int16, group string, offset int64) int16 {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version, req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = 3, "t", group, pid, epoch
	req.Generation = -1
	req.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "in", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: offset, LeaderEpoch: -1}}}}
	return svc.TxnOffsetCommit(context.Background(), req).Topics[0].Partitions[0].ErrorCode
}

// fetch returns the committed offset of in-0 and the partition's code,
// with require_stable.
func fetch(svc *Service, group string) (int64, int16) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.RequireStable = 8, true
	req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "in", Partitions: []int32{0}}}}}
	p := svc.OffsetFetch(context.Background(), req).Groups[0].Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

// Offsets from TxnOffsetCommit are pending (UNSTABLE_OFFSET_COMMIT to a
// require_stable fetch, never visible) until the producer's marker:
// commit materializes them, abort drops them; a stale producer epoch is
// fenced; the log replays to the same offsets, pending ones included.
func TestTxnOffsetCommitPendingUntilMarker(t *testing.T) {
	for _, withTxnStore := range []bool{true, false} {
		var store Store = &memStore{}
		if withTxnStore {
			store = &txnMemStore{}
		}
		svc, err := NewService(DefaultConfig(), store)
		if err != nil {
			t.Fatal(err)
		}
		if code := txnCommit(svc, 5, 1, "g", 10); code != 0 {
			t.Fatalf("TxnOffsetCommit: %v", kerr.ErrorForCode(code))
		}
		if off, code := fetch(svc, "g"); code != kerr.UnstableOffsetCommit.Code || off != -1 {
			t.Fatalf("pending offset fetched: %d %v", off, kerr.ErrorForCode(code))
		}
		if code := txnCommit(svc, 5, 0, "g", 11); code != kerr.ProducerFenced.Code {
			t.Fatalf("stale epoch: %v", kerr.ErrorForCode(code))
		}
		if err := svc.CompleteTxn(5, 1, true, nil); err != nil {
			t.Fatal(err)
		}
		if off, code := fetch(svc, "g"); code != 0 || off != 10 {
			t.Fatalf("after commit: %d %v", off, kerr.ErrorForCode(code))
		}
		txnCommit(svc, 6, 0, "g", 20)
		if err := svc.CompleteTxn(6, 0, false, nil); err != nil {
			t.Fatal(err)
		}
		if off, code := fetch(svc, "g"); code != 0 || off != 10 {
			t.Fatalf("after abort: %d %v", off, kerr.ErrorForCode(code))
		}
		txnCommit(svc, 7, 0, "g", 30) // left pending
		var log []KV
		if s, ok := store.(*txnMemStore); ok {
			log = s.records()
		} else {
			log = store.(*memStore).records()
		}
		again, _ := NewService(DefaultConfig(), nil)
		if err := again.Load(log); err != nil {
			t.Fatal(err)
		}
		off, code := fetch(again, "g")
		wantCode := int16(0)
		if withTxnStore {
			wantCode = kerr.UnstableOffsetCommit.Code // the pending commit survived
		}
		if code != wantCode || (code == 0 && off != 10) {
			t.Fatalf("TxnStore %v: replayed %d %v", withTxnStore, off, kerr.ErrorForCode(code))
		}
		if withTxnStore {
			if err := again.CompleteTxn(7, 0, true, nil); err != nil {
				t.Fatal(err)
			}
			if off, code := fetch(again, "g"); code != 0 || off != 30 {
				t.Fatalf("replayed pending then committed: %d %v", off, kerr.ErrorForCode(code))
			}
		}
	}
}
