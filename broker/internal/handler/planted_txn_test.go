package handler_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/highwater-io/highwater/broker/internal/faults"
)

// The partition-side planted transaction bugs, each against the same
// script without it: producer A writes in a transaction, the coordinator
// aborts it with a bumped epoch, A writes again at its old epoch.
// txn-zombie-write accepts that write (INVALID_PRODUCER_EPOCH without
// it); txn-aborted-read answers read_committed fetches without A's
// aborted transaction (clients would then return a1, a2).
func TestPlantedTxnPartitionBugs(t *testing.T) {
	defer faults.Reset()
	for _, bug := range []faults.Bug{"", faults.TxnZombieWrite, faults.TxnAbortedRead} {
		name := string(bug)
		if name == "" {
			name = "no-bug"
		}
		t.Run(name, func(t *testing.T) {
			faults.Reset()
			if bug != "" {
				faults.Plant(bug)
			}
			tb := startBroker(t, t.TempDir())
			ctx := testCtx(t)
			raw := newClient(t, tb.addr)
			const topic, pa = "planted", 1000
			id := createTopic(ctx, t, kadm.NewClient(raw), topic)
			if r := produceRaw(ctx, t, raw, topic, id, txnBatch(t, pa, 0, 0, "a1", "a2")); r.ErrorCode != 0 {
				t.Fatalf("A's batch: %v", kerr.ErrorForCode(r.ErrorCode))
			}
			if code := writeMarker(ctx, t, raw, topic, pa, 1, 0, false); code != 0 {
				t.Fatalf("abort marker: %v", kerr.ErrorForCode(code))
			}
			r := produceRaw(ctx, t, raw, topic, id, txnBatch(t, pa, 0, 2, "zombie"))
			if zombie := bug == faults.TxnZombieWrite; (r.ErrorCode == 0) != zombie {
				t.Fatalf("zombie write answered %v; accepted should be %v", kerr.ErrorForCode(r.ErrorCode), zombie)
			}
			f := fetchPartition(ctx, t, raw, topic, id, 0, 1)
			if omitted := bug == faults.TxnAbortedRead; (len(f.AbortedTransactions) == 0) != omitted {
				t.Fatalf("read_committed fetch listed aborted transactions %+v; omitted should be %v", f.AbortedTransactions, omitted)
			}
		})
	}
}
