package txn

import (
	"context"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/faults"
)

// recordingMarkers acknowledges every marker and keeps the last outcome
// written to each partition (true: commit).
type recordingMarkers struct {
	mu      sync.Mutex
	outcome map[TopicPartition]bool
}

func (m *recordingMarkers) WriteTxnMarkers(_ context.Context, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	for _, mk := range req.Markers {
		rm := kmsg.WriteTxnMarkersResponseMarker{ProducerID: mk.ProducerID}
		for _, t := range mk.Topics {
			rt := kmsg.WriteTxnMarkersResponseMarkerTopic{Topic: t.Topic}
			for _, p := range t.Partitions {
				m.outcome[TopicPartition{t.Topic, p}] = mk.Committed
				rt.Partitions = append(rt.Partitions, kmsg.WriteTxnMarkersResponseMarkerTopicPartition{Partition: p})
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}

// With txn-marker-partial planted a commit reaches its first partition as
// a commit and every other one as an abort, and still completes; without
// it every partition gets the commit.
func TestPlantedTxnMarkerPartial(t *testing.T) {
	for _, planted := range []bool{false, true} {
		faults.Reset()
		if planted {
			faults.Plant(faults.TxnMarkerPartial)
		}
		markers := &recordingMarkers{outcome: map[TopicPartition]bool{}}
		svc := newTestService(t, &memStore{}, markers)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { svc.Run(ctx); close(done) }()
		id := "t"
		init := kmsg.NewPtrInitProducerIDRequest()
		init.Version, init.TransactionalID, init.TransactionTimeoutMillis = 4, &id, 10000
		ir := svc.InitProducerID(ctx, init)
		add := kmsg.NewPtrAddPartitionsToTxnRequest()
		add.Version, add.TransactionalID, add.ProducerID, add.ProducerEpoch = 3, id, ir.ProducerID, ir.ProducerEpoch
		add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "a", Partitions: []int32{1, 0}}, {Topic: "b", Partitions: []int32{0}}}
		svc.AddPartitionsToTxn(ctx, add)
		end := kmsg.NewPtrEndTxnRequest()
		end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = 3, id, ir.ProducerID, ir.ProducerEpoch, true
		if r := svc.EndTxn(ctx, end); r.ErrorCode != 0 {
			t.Fatalf("EndTxn: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		waitState(t, svc, id, CompleteCommit)
		cancel()
		<-done
		want := map[TopicPartition]bool{{"a", 0}: true, {"a", 1}: !planted, {"b", 0}: !planted}
		for tp, commit := range want {
			if got, ok := markers.outcome[tp]; !ok || got != commit {
				t.Errorf("planted %v: %v got a marker %v (commit %v), want commit %v", planted, tp, ok, got, commit)
			}
		}
	}
	faults.Reset()
}
