package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

// offsetForEpoch sends OffsetForLeaderEpoch for topic-0 to node id.
func (c *testCluster) offsetForEpoch(ctx context.Context, id int32, topic string, current, epoch int32) (kmsg.OffsetForLeaderEpochResponseTopicPartition, error) {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	t := kmsg.NewOffsetForLeaderEpochRequestTopic()
	t.Topic = topic
	p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	p.Partition, p.CurrentLeaderEpoch, p.LeaderEpoch = 0, current, epoch
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp, err := c.request(ctx, id, req)
	if err != nil {
		return kmsg.OffsetForLeaderEpochResponseTopicPartition{}, err
	}
	r := resp.(*kmsg.OffsetForLeaderEpochResponse)
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return kmsg.OffsetForLeaderEpochResponseTopicPartition{}, fmt.Errorf("malformed answer %+v", r)
	}
	return r.Topics[0].Partitions[0], nil
}

// partitionZero is topic-0's leader, leader epoch and replicas as node
// id's metadata says.
func (c *testCluster) partitionZero(ctx context.Context, id int32, topic string) (leader, epoch int32, replicas []int32, err error) {
	resp, err := c.metadata(ctx, id, topic)
	if err != nil {
		return -1, -1, nil, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) == 0 {
		return -1, -1, nil, fmt.Errorf("no partition 0 in %+v", resp.Topics)
	}
	p := resp.Topics[0].Partitions[0]
	return p.Leader, p.LeaderEpoch, p.Replicas, nil
}

// OffsetForLeaderEpoch answers from the leader's epoch cache across a
// leader change; ElectLeaders moves leadership back to the preferred
// replica (and says when no election is needed); the topic admin APIs
// work when sent to a node that is not the active controller (forwarded).
func TestClusterLeaderEpochsElectionsForwarding(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const topic = "epochs"
	c, seeds, first, closeAll := startReplicatedTopic(ctx, t, topic)
	defer closeAll()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := produceN(ctx, cl, topic, 0, 10); err != nil {
		t.Fatal(err)
	}
	_, epoch0, replicas, err := c.partitionZero(ctx, first, topic)
	if err != nil {
		t.Fatal(err)
	}
	if replicas[0] != first {
		t.Fatalf("first leader %d is not the preferred replica of %v", first, replicas)
	}
	got, err := c.offsetForEpoch(ctx, first, topic, epoch0, epoch0)
	if err != nil || got.ErrorCode != 0 || got.LeaderEpoch != epoch0 || got.EndOffset != 10 {
		t.Fatalf("leader: OffsetForLeaderEpoch(%d) = %+v, %v; want epoch %d end 10", epoch0, got, err, epoch0)
	}
	other := replicas[1]
	if got, err := c.offsetForEpoch(ctx, other, topic, -1, epoch0); err != nil || got.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("follower: OffsetForLeaderEpoch = %+v, %v; want NOT_LEADER_OR_FOLLOWER", got, err)
	}
	if got, err := c.offsetForEpoch(ctx, first, topic, epoch0+5, epoch0); err != nil || got.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("current epoch ahead: %+v, %v; want UNKNOWN_LEADER_EPOCH", got, err)
	}

	// Nothing to elect while the preferred replica leads.
	adm := kadm.NewClient(cl)
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
	if err != nil || !errors.Is(res[topic][0].Err, kerr.ElectionNotNeeded) {
		t.Fatalf("ElectLeaders with the preferred leader in place: %+v, %v; want ELECTION_NOT_NEEDED", res, err)
	}

	c.stopNode(first)
	var second, epoch1 int32
	eventually(ctx, t, "a new leader", func() error {
		l, e, _, err := c.partitionZero(ctx, other, topic)
		if err == nil && (l < 0 || l == first) {
			err = fmt.Errorf("leader %d", l)
		}
		second, epoch1 = l, e
		return err
	})
	if err := produceN(ctx, cl, topic, 10, 10); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "new leader's epoch cache", func() error {
		old, err := c.offsetForEpoch(ctx, second, topic, epoch1, epoch0)
		if err != nil {
			return err
		}
		cur, err := c.offsetForEpoch(ctx, second, topic, epoch1, epoch1)
		if err != nil {
			return err
		}
		if old.ErrorCode != 0 || old.LeaderEpoch != epoch0 || old.EndOffset != 10 {
			return fmt.Errorf("epoch %d: %+v, want end 10", epoch0, old)
		}
		if cur.ErrorCode != 0 || cur.LeaderEpoch != epoch1 || cur.EndOffset != 20 {
			return fmt.Errorf("epoch %d: %+v, want end 20", epoch1, cur)
		}
		return nil
	})

	c.start(first)
	eventually(ctx, t, "restarted preferred replica back in the ISR", func() error {
		isr, err := c.isrOf(ctx, second, topic)
		if err == nil && len(isr) != 3 {
			err = fmt.Errorf("isr %v", isr)
		}
		return err
	})
	// ElectLeaders through a node that is not the active controller.
	var via int32 = 1
	for via == c.controllerOf(ctx, second) {
		via++
	}
	eventually(ctx, t, "preferred election forwarded by a non-controller", func() error {
		req := kmsg.NewPtrElectLeadersRequest()
		req.ElectionType, req.TimeoutMillis = 0, 5000
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
		resp, err := c.request(ctx, via, req)
		if err != nil {
			return err
		}
		r := resp.(*kmsg.ElectLeadersResponse)
		if r.ErrorCode != 0 || len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
			return fmt.Errorf("answer %+v", r)
		}
		if code := r.Topics[0].Partitions[0].ErrorCode; code != 0 && code != kerr.ElectionNotNeeded.Code {
			return kerr.ErrorForCode(code)
		}
		return nil
	})
	eventually(ctx, t, "preferred replica leads again", func() error {
		l, _, _, err := c.partitionZero(ctx, other, topic)
		if err == nil && l != first {
			err = fmt.Errorf("leader %d, want %d", l, first)
		}
		return err
	})

	// Topic admin sent straight to a node that is not the controller.
	// nonController is a node that is not the active controller as the
	// nodes see it now (the controller may move under load: then the
	// request is merely not forwarded, still answered).
	nonController := func() int32 {
		ctl := c.controllerOf(ctx, 1)
		for id := int32(1); id <= 3; id++ {
			if id != ctl {
				return id
			}
		}
		return 1
	}
	for _, tc := range []struct {
		name  string
		req   kmsg.Request
		code  func(kmsg.Response) int16
		again int16 // what a retry of a request that did succeed answers
	}{
		{"IncrementalAlterConfigs", func() kmsg.Request {
			r := kmsg.NewPtrIncrementalAlterConfigsRequest()
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
			cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			cfg.Name, cfg.Value = "retention.ms", kmsg.StringPtr("123456")
			rr.Configs = append(rr.Configs, cfg)
			r.Resources = append(r.Resources, rr)
			return r
		}(), func(r kmsg.Response) int16 { return r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode }, 0},
		{"AlterConfigs", func() kmsg.Request {
			r := kmsg.NewPtrAlterConfigsRequest()
			rr := kmsg.NewAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
			for _, kv := range [][2]string{{"retention.ms", "123456"}, {"min.insync.replicas", "2"}} {
				cfg := kmsg.NewAlterConfigsRequestResourceConfig()
				cfg.Name, cfg.Value = kv[0], kmsg.StringPtr(kv[1])
				rr.Configs = append(rr.Configs, cfg)
			}
			r.Resources = append(r.Resources, rr)
			return r
		}(), func(r kmsg.Response) int16 { return r.(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode }, 0},
		{"CreateTopics", func() kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "forwarded", 1, 3
			r.Topics, r.TimeoutMillis = append(r.Topics, rt), 5000
			return r
		}(), func(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode }, kerr.TopicAlreadyExists.Code},
		{"CreatePartitions", func() kmsg.Request {
			r := kmsg.NewPtrCreatePartitionsRequest()
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = "forwarded", 2
			r.Topics, r.TimeoutMillis = append(r.Topics, rt), 5000
			return r
		}(), func(r kmsg.Response) int16 { return r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode }, kerr.InvalidPartitions.Code},
		{"DeleteTopics", func() kmsg.Request {
			r := kmsg.NewPtrDeleteTopicsRequest()
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr("forwarded")
			r.Topics, r.TimeoutMillis = append(r.Topics, rt), 5000
			return r
		}(), func(r kmsg.Response) int16 { return r.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode }, kerr.UnknownTopicOrPartition.Code},
	} {
		tries := 0
		eventually(ctx, t, tc.name+" via a non-controller", func() error {
			via := nonController()
			resp, err := c.request(ctx, via, tc.req)
			if err != nil {
				return err
			}
			tries++
			if code := tc.code(resp); code != 0 && (tries == 1 || code != tc.again) {
				return fmt.Errorf("node %d: %w", via, kerr.ErrorForCode(code))
			}
			return nil
		})
	}
	eventually(ctx, t, "config change visible", func() error {
		rc, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic)
		if err != nil {
			return err
		}
		for _, cfg := range rc[0].Configs {
			if cfg.Key == "retention.ms" && cfg.Value != nil && *cfg.Value == "123456" {
				return nil
			}
		}
		return errors.New("retention.ms not changed")
	})
}
