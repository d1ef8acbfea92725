package broker

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/highwater-io/highwater/broker/internal/faults"
	"github.com/highwater-io/highwater/broker/internal/records"
)

// idempotentBatch is producer pid's batch of n records from sequence seq.
func idempotentBatch(t *testing.T, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	opts := records.DefaultBuildOptions()
	opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = pid, epoch, seq
	opts.FirstTimestamp = time.Now().UnixMilli()
	recs := make([]records.Record, n)
	for i := range recs {
		recs[i] = records.Record{OffsetDelta: int32(i), Value: []byte("seq-" + strconv.Itoa(int(seq)+i))}
	}
	b, err := records.Build(opts, records.CodecNone, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// produceRaw sends one batch to topic-0 on node id (acks=-1) and returns
// the partition's error code and base offset.
func (c *testCluster) produceRaw(ctx context.Context, id int32, topic string, batch []byte, timeoutMs int32) (int16, int64, error) {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, timeoutMs
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	md, err := c.metadata(ctx, id, topic)
	if err != nil {
		return 0, 0, err
	}
	if len(md.Topics) == 1 {
		rt.TopicID = md.Topics[0].TopicID // v13 names topics by id
	}
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 0, append([]byte(nil), batch...)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.request(ctx, id, req)
	if err != nil {
		return 0, 0, err
	}
	r := resp.(*kmsg.ProduceResponse)
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return 0, 0, fmt.Errorf("malformed answer %+v", r)
	}
	p := r.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset, nil
}

// End to end through the replication driver: a leader holds an idempotent
// producer's batch no follower fetched (a slow replication link) and is
// killed; the new leader never gets that batch; the old leader restarts,
// truncates the diverged tail and must roll its producer state back with
// it. Made leader again (ElectLeaders), it must append the very same batch
// when the producer sends it: without the rollback it would answer it as a
// duplicate of records that are gone, acknowledging a write it lost.
func TestClusterTruncationRollsBackProducerState(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	defer faults.SetReplicaFetchDelay(0)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const topic = "diverged"
	c := newTestCluster(t)
	c.extra = []string{"auto.leader.rebalance.enable", "false"}
	defer c.close()
	for id := int32(1); id <= 3; id++ {
		c.start(id)
	}
	c.waitAllUp(ctx, t)
	eventually(ctx, t, "create topic led by node 1", func() error {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = 0, []int32{1, 2, 3}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = "min.insync.replicas", kmsg.StringPtr("2")
		rt.Configs = append(rt.Configs, cfg)
		req.Topics, req.TimeoutMillis = append(req.Topics, rt), 5000
		resp, err := c.request(ctx, 2, req)
		if err != nil {
			return err
		}
		if code := resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; code != 0 && code != kerr.TopicAlreadyExists.Code {
			return kerr.ErrorForCode(code)
		}
		return nil
	})
	leaderIs := func(want int32) func() error {
		return func() error {
			for _, id := range c.running() {
				l, err := c.leaderOf(ctx, id, topic)
				if err != nil {
					return err
				}
				if l != want {
					return fmt.Errorf("node %d: leader %d, want %d", id, l, want)
				}
			}
			return nil
		}
	}
	eventually(ctx, t, "leader 1", leaderIs(1))

	var pid int64
	var pepoch int16
	eventually(ctx, t, "producer id", func() error {
		resp, err := c.request(ctx, 1, kmsg.NewPtrInitProducerIDRequest())
		if err != nil {
			return err
		}
		r := resp.(*kmsg.InitProducerIDResponse)
		if r.ErrorCode != 0 {
			return kerr.ErrorForCode(r.ErrorCode)
		}
		pid, pepoch = r.ProducerID, r.ProducerEpoch
		return nil
	})
	eventually(ctx, t, "replicated first batch", func() error {
		code, _, err := c.produceRaw(ctx, 1, topic, idempotentBatch(t, pid, pepoch, 0, 10), 5000)
		if err == nil && code != 0 {
			err = kerr.ErrorForCode(code)
		}
		return err
	})

	// Followers stop fetching (each waits before its next fetch), then the
	// leader appends a batch only it will ever have.
	faults.SetReplicaFetchDelay(20 * time.Second)
	time.Sleep(1500 * time.Millisecond) // fetches in flight (500 ms long polls) come back
	tail := idempotentBatch(t, pid, pepoch, 10, 5)
	code, base, err := c.produceRaw(ctx, 1, topic, tail, 500)
	if err != nil || code != kerr.RequestTimedOut.Code || base != 10 {
		t.Fatalf("unreplicated batch: code %d base %d err %v; want REQUEST_TIMED_OUT at 10", code, base, err)
	}
	c.kill(1)
	faults.SetReplicaFetchDelay(0)
	var newLeader int32
	eventually(ctx, t, "a new leader", func() error {
		l, err := c.leaderOf(ctx, 2, topic)
		if err == nil && (l == 1 || l < 0) {
			err = fmt.Errorf("leader %d", l)
		}
		newLeader = l
		return err
	})
	c.start(1)
	eventually(ctx, t, "node 1 back in the ISR", func() error {
		isr, err := c.isrOf(ctx, newLeader, topic)
		if err == nil && len(isr) != 3 {
			err = fmt.Errorf("isr %v", isr)
		}
		return err
	})
	if end, _, err := c.partitionLog(1, topic); err != nil || end != 10 {
		t.Fatalf("node 1's log ends at %d (%v), want its diverged tail truncated to 10", end, err)
	}
	eventually(ctx, t, "preferred election of node 1", func() error {
		req := kmsg.NewPtrElectLeadersRequest()
		req.ElectionType, req.TimeoutMillis = 0, 5000
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
		resp, err := c.request(ctx, 2, req)
		if err != nil {
			return err
		}
		r := resp.(*kmsg.ElectLeadersResponse)
		if r.ErrorCode != 0 {
			return kerr.ErrorForCode(r.ErrorCode)
		}
		if code := r.Topics[0].Partitions[0].ErrorCode; code != 0 && code != kerr.ElectionNotNeeded.Code {
			return kerr.ErrorForCode(code)
		}
		return leaderIs(1)()
	})

	// The producer sends the lost batch again: it must be written.
	eventually(ctx, t, "the lost batch appended on node 1", func() error {
		code, base, err := c.produceRaw(ctx, 1, topic, tail, 5000)
		if err != nil {
			return err
		}
		if code != 0 {
			return kerr.ErrorForCode(code)
		}
		if base != 10 {
			return fmt.Errorf("base offset %d, want 10", base)
		}
		return nil
	})
	end, _, err := c.partitionLog(1, topic)
	if err != nil || end != 15 {
		t.Fatalf("node 1's log ends at %d (%v) after the batch was acknowledged, want 15 (acknowledged as a duplicate of lost records?)", end, err)
	}
}
