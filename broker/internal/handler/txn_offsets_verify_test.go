package handler

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// commitGroups is a group coordinator that accepts every transactional
// offset commit (no other group API is called here).
type commitGroups struct {
	Groups
	commits int
}

func (g *commitGroups) TxnOffsetCommit(_ context.Context, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	g.commits++
	return txnOffsetCommitError(req, 0)
}

// verifyingTxns is fakeTxns verifying TxnOffsetCommit with err.
type verifyingTxns struct {
	fakeTxns
	err   error
	asked int
}

func (v *verifyingTxns) VerifyOffsetsTxn(context.Context, string, int64, int16, string) error {
	v.asked++
	return v.err
}

func (v *verifyingTxns) AddOffsetsTV2(context.Context, string, int64, int16, string) error {
	return nil
}

// TxnOffsetCommit v0-4 asks the transaction coordinator whether the
// group's offsets partition is in the producer's transaction before the
// group coordinator sees the commit, and answers its refusal as Kafka
// 4.1 does per version; v5 adds the partition instead of verifying.
func TestTxnOffsetCommitVerified(t *testing.T) {
	for _, tc := range []struct {
		version int16
		err     error
		want    int16
	}{
		{4, nil, 0},
		{4, kerr.TransactionAbortable, kerr.TransactionAbortable.Code},
		{3, kerr.TransactionAbortable, kerr.InvalidTxnState.Code},
		{0, kerr.TransactionAbortable, kerr.InvalidTxnState.Code},
		{4, kerr.ProducerFenced, kerr.InvalidProducerEpoch.Code},
		{2, kerr.InvalidProducerIDMapping, kerr.InvalidProducerIDMapping.Code},
		{4, kerr.CoordinatorNotAvailable, kerr.CoordinatorNotAvailable.Code},
		{5, kerr.TransactionAbortable, 0}, // not asked: v5 adds
	} {
		g := &commitGroups{}
		v := &verifyingTxns{fakeTxns: fakeTxns{level: 2}, err: tc.err}
		s, _ := newTopicServer(t, Config{ProducerIDs: v, Groups: g})
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version, req.TransactionalID, req.Group, req.ProducerID, req.Generation = tc.version, "tx", "g", 7, -1
		req.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0}, {Partition: 1}}}}
		r, err := s.Dispatch(context.Background(), &Conn{}, req)
		if err != nil {
			t.Fatal(err)
		}
		resp := r.(*kmsg.TxnOffsetCommitResponse)
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != tc.want {
				t.Errorf("v%d verified %v: partition %d answered %v, want %v", tc.version, tc.err, p.Partition,
					kerr.ErrorForCode(p.ErrorCode), kerr.ErrorForCode(tc.want))
			}
		}
		wantAsked, wantCommits := 1, 0
		if tc.version >= 5 {
			wantAsked = 0
		}
		if tc.want == 0 {
			wantCommits = 1
		}
		if v.asked != wantAsked || g.commits != wantCommits {
			t.Errorf("v%d verified %v: coordinator asked %d times, group coordinator %d, want %d and %d",
				tc.version, tc.err, v.asked, g.commits, wantAsked, wantCommits)
		}
	}
}
