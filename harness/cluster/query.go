package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataTopic is KRaft's metadata log, whose single partition's leader is
// the active controller.
const metadataTopic = "__cluster_metadata"

// PerNodeTimeout bounds each node's answer in the queries below, so a
// paused or cut-off node delays a query by at most this much.
const PerNodeTimeout = 3 * time.Second

// ErrNoAnswer means no node answered a query.
var ErrNoAnswer = errors.New("cluster: no node answered")

// MetadataLeaders asks every node in ids (concurrently, through cl) for all
// partitions and keeps, per partition, the answer with the highest leader
// epoch: a node cut off from the quorum keeps serving its stale view, and
// the newest epoch is the current truth. Leaderless partitions map to -1.
func MetadataLeaders(ctx context.Context, cl *kgo.Client, ids []int32) (map[TopicPartition]int32, error) {
	type view struct{ leader, epoch int32 }
	merged := map[TopicPartition]view{}
	var mu sync.Mutex
	errs := eachNode(ctx, cl, ids, func(ctx context.Context, r kmsg.Requestor) error {
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, r)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, t := range resp.Topics {
			if kerr.ErrorForCode(t.ErrorCode) != nil || t.Topic == nil {
				continue // a topic being created or deleted has no stable leaders
			}
			for _, p := range t.Partitions {
				leader := p.Leader
				if kerr.ErrorForCode(p.ErrorCode) == kerr.LeaderNotAvailable {
					leader = -1
				}
				tp := TopicPartition{Topic: *t.Topic, Partition: p.Partition}
				if old, ok := merged[tp]; !ok || p.LeaderEpoch > old.epoch {
					merged[tp] = view{leader, p.LeaderEpoch}
				}
			}
		}
		return nil
	})
	if len(errs) == len(ids) {
		return nil, fmt.Errorf("%w: metadata: %w", ErrNoAnswer, errors.Join(errs...))
	}
	out := make(map[TopicPartition]int32, len(merged))
	for tp, v := range merged {
		out[tp] = v.leader
	}
	return out, nil
}

// QuorumLeader asks every node in ids for the KRaft metadata quorum's leader
// with DescribeQuorum (brokers forward it to the controllers) and keeps the
// answer with the highest epoch. Metadata's ControllerID is not used: a
// KRaft broker reports a random live broker there, not the active
// controller.
func QuorumLeader(ctx context.Context, cl *kgo.Client, ids []int32) (int32, error) {
	leader, epoch := int32(-1), int32(-1)
	var mu sync.Mutex
	errs := eachNode(ctx, cl, ids, func(ctx context.Context, r kmsg.Requestor) error {
		id, e, err := describeQuorum(ctx, r)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if e > epoch {
			leader, epoch = id, e
		}
		return nil
	})
	if leader < 0 {
		return -1, fmt.Errorf("%w: describe quorum: %w", ErrNoAnswer, errors.Join(errs...))
	}
	return leader, nil
}

// describeQuorum returns the quorum leader and its epoch as one node sees it.
func describeQuorum(ctx context.Context, r kmsg.Requestor) (leader, epoch int32, err error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = metadataTopic
	p := kmsg.NewDescribeQuorumRequestTopicPartition()
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, r)
	if err != nil {
		return -1, -1, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return -1, -1, err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return -1, -1, err
			}
			if p.LeaderID < 0 {
				return -1, -1, errors.New("no quorum leader elected")
			}
			return p.LeaderID, p.LeaderEpoch, nil
		}
	}
	return -1, -1, errors.New("empty DescribeQuorum response")
}

// eachNode runs f against every node concurrently, each bounded by
// PerNodeTimeout, and returns the failures (one per failed node).
func eachNode(ctx context.Context, cl *kgo.Client, ids []int32, f func(context.Context, kmsg.Requestor) error) []error {
	return perNode(ctx, ids, func(ctx context.Context, i int) error { return f(ctx, cl.Broker(int(ids[i]))) })
}

// perNode runs f(ctx, i) for every index of ids concurrently, each bounded
// by PerNodeTimeout, and returns the failures, each naming its node.
func perNode(ctx context.Context, ids []int32, f func(ctx context.Context, i int) error) []error {
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nctx, cancel := context.WithTimeout(ctx, PerNodeTimeout)
			defer cancel()
			if err := f(nctx, i); err != nil {
				errs[i] = fmt.Errorf("node %d: %w", id, err)
			}
		}()
	}
	wg.Wait()
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}
