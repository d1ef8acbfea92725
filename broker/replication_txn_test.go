package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/highwater-io/highwater/broker/internal/partlog"
	"github.com/highwater-io/highwater/broker/internal/records"
)

// txnState is node id's transaction state of its local topic-0: the first
// unstable offset, the aborted transactions and the producers' epochs.
func (c *testCluster) txnState(id int32, topic string) (firstUnstable int64, aborted []partlog.AbortedTxn, epochs map[int64]int16, err error) {
	c.mu.Lock()
	rb := c.nodes[id]
	c.mu.Unlock()
	if rb == nil {
		return 0, nil, nil, fmt.Errorf("node %d is down", id)
	}
	t, ok := rb.b.catalog.Get(topic)
	if !ok || t.Partition(0) == nil {
		return 0, nil, nil, fmt.Errorf("node %d does not host %s-0", id, topic)
	}
	p := t.Partition(0)
	epochs = map[int64]int16{}
	for _, pr := range p.Producers() {
		epochs[pr.ID] = pr.Epoch
	}
	return p.Log.FirstUnstableOffset(), p.Log.AbortedTxns(0, p.Log.EndOffset()), epochs, nil
}

func txnTestBatch(t *testing.T, pid int64, epoch int16, seq int32, value string) []byte {
	t.Helper()
	opts := records.DefaultBuildOptions()
	opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence, opts.Transactional = pid, epoch, seq, true
	opts.FirstTimestamp = time.Now().UnixMilli()
	b, err := records.Build(opts, records.CodecNone, []records.Record{{Value: []byte(value)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Transaction markers replicate like any batch: followers copying them
// byte for byte rebuild the same open transactions, aborted index and
// producer epochs, so a new leader after a failover keeps the last stable
// offset, answers read_committed with the aborted transactions and fences
// a producer whose epoch a marker raised.
func TestClusterTxnMarkersReplicate(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "txrepl"
	c, _, leader, closeAll := startReplicatedTopic(ctx, t, topic)
	defer closeAll()
	var topicID [16]byte
	eventually(ctx, t, "the leader knows the topic id", func() error {
		md, err := c.metadata(ctx, leader, topic)
		if err != nil {
			return err
		}
		if len(md.Topics) != 1 || md.Topics[0].TopicID == [16]byte{} {
			return fmt.Errorf("metadata %+v", md.Topics)
		}
		topicID = md.Topics[0].TopicID
		return nil
	})

	produce := func(node int32, batch []byte) int16 {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 10_000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := c.request(ctx, node, req)
		if err != nil {
			t.Fatalf("produce to node %d: %v", node, err)
		}
		return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	marker := func(node int32, pid int64, epoch int16, commit bool) int16 {
		t.Helper()
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed = pid, epoch, commit
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = topic, []int32{0}
		m.Topics = append(m.Topics, mt)
		req.Markers = append(req.Markers, m)
		resp, err := c.request(ctx, node, req)
		if err != nil {
			t.Fatalf("WriteTxnMarkers to node %d: %v", node, err)
		}
		return resp.(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics[0].Partitions[0].ErrorCode
	}

	eventually(ctx, t, "A's transactional batch (once the leader hosts the topic)", func() error {
		return kerr.ErrorForCode(produce(leader, txnTestBatch(t, 77, 0, 0, "a")))
	})
	if code := produce(leader, txnTestBatch(t, 88, 0, 0, "b")); code != 0 {
		t.Fatalf("B's transactional batch: %v", kerr.ErrorForCode(code))
	}
	if code := marker(leader, 77, 1, false); code != 0 { // abort A, fencing its epoch 0
		t.Fatalf("abort marker: %v", kerr.ErrorForCode(code))
	}
	want := []partlog.AbortedTxn{{ProducerID: 77, FirstOffset: 0, LastOffset: 2, LastStableOffset: 1}}
	eventually(ctx, t, "every replica has the marker and the same transaction state", func() error {
		for id := int32(1); id <= 3; id++ {
			first, aborted, epochs, err := c.txnState(id, topic)
			if err != nil {
				return err
			}
			if first != 1 || len(aborted) != 1 || aborted[0] != want[0] || epochs[77] != 1 || epochs[88] != 0 {
				return fmt.Errorf("node %d: first unstable %d, aborted %+v, epochs %v", id, first, aborted, epochs)
			}
		}
		return nil
	})

	c.stopNode(leader)
	var next int32
	for _, id := range []int32{1, 2, 3} {
		if id != leader {
			next = id
			break
		}
	}
	newLeader := int32(-1)
	eventually(ctx, t, "a new leader", func() error {
		l, err := c.leaderOf(ctx, next, topic)
		if err != nil || l < 0 || l == leader {
			return fmt.Errorf("leader %d (%v)", l, err)
		}
		newLeader = l
		return nil
	})
	eventually(ctx, t, "the new leader fences A's zombie", func() error {
		if code := produce(newLeader, txnTestBatch(t, 77, 0, 1, "zombie")); code != kerr.InvalidProducerEpoch.Code {
			return fmt.Errorf("zombie write: %v", kerr.ErrorForCode(code))
		}
		return nil
	})
	eventually(ctx, t, "read_committed on the new leader", func() error {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.IsolationLevel, req.SessionEpoch = -1, 1<<20, 1, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := c.request(ctx, newLeader, req)
		if err != nil {
			return err
		}
		p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.HighWatermark != 3 || p.LastStableOffset != 1 || len(p.AbortedTransactions) != 1 ||
			p.AbortedTransactions[0].ProducerID != 77 || len(p.RecordBatches) == 0 {
			return fmt.Errorf("fetch: %v HW %d LSO %d aborted %+v, %d bytes", kerr.ErrorForCode(p.ErrorCode),
				p.HighWatermark, p.LastStableOffset, p.AbortedTransactions, len(p.RecordBatches))
		}
		return nil
	})
	if code := marker(newLeader, 88, 0, true); code != 0 {
		t.Fatalf("commit B on the new leader: %v", kerr.ErrorForCode(code))
	}
	if first, _, _, err := c.txnState(newLeader, topic); err != nil || first != 4 {
		t.Fatalf("after B's commit on the new leader: first unstable %d, %v", first, err)
	}
}
