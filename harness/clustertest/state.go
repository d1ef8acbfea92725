package clustertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/harness/cluster"
)

// perNodeTimeout bounds one node's Metadata answer, so a dead or paused
// node delays Describe by at most this much.
const perNodeTimeout = 3 * time.Second

// pollInterval paces the waits below.
const pollInterval = 200 * time.Millisecond

// PartitionState is one partition as the newest leader epoch any node
// reports describes it.
type PartitionState struct {
	Leader      int32 // -1 without one
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
}

// FullISR reports whether every replica is in the ISR.
func (s PartitionState) FullISR() bool {
	return len(s.Replicas) > 0 && len(s.ISR) == len(s.Replicas)
}

// InISR reports whether node id is in the ISR.
func (s PartitionState) InISR(id int32) bool { return slices.Contains(s.ISR, id) }

// NewClient is a franz-go client seeded with every node of c, with a short
// metadata refresh floor so it follows leadership changes promptly (the
// same for every implementation measured).
func NewClient(c cluster.Cluster, opts ...kgo.Opt) (*kgo.Client, error) {
	all := append([]kgo.Opt{
		kgo.SeedBrokers(strings.Split(c.Bootstrap(), ",")...),
		kgo.MetadataMinAge(250 * time.Millisecond),
	}, opts...)
	return kgo.NewClient(all...)
}

// nodeIDs lists c's node ids.
func nodeIDs(c cluster.Cluster) []int32 {
	var ids []int32
	for _, n := range c.Nodes() {
		ids = append(ids, n.ID)
	}
	return ids
}

// Describe asks every node of c (concurrently, through cl) for topic's
// partitions and keeps, per partition, the answer with the highest leader
// epoch: a node cut off or just restarted may serve a stale view.
func Describe(ctx context.Context, c cluster.Cluster, cl *kgo.Client, topic string) (map[int32]PartitionState, error) {
	ids := nodeIDs(c)
	out := map[int32]PartitionState{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Go(func() {
			nctx, cancel := context.WithTimeout(ctx, perNodeTimeout)
			defer cancel()
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(topic)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(nctx, cl.Broker(int(id)))
			if err != nil {
				errs[i] = fmt.Errorf("node %d: %w", id, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, t := range resp.Topics {
				if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
					errs[i] = fmt.Errorf("node %d: topic %s: %w", id, topic, err)
					continue
				}
				for _, p := range t.Partitions {
					s := PartitionState{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
						Replicas: slices.Sorted(slices.Values(p.Replicas)), ISR: slices.Sorted(slices.Values(p.ISR))}
					if kerr.ErrorForCode(p.ErrorCode) == kerr.LeaderNotAvailable {
						s.Leader = -1
					}
					if old, ok := out[p.Partition]; !ok || s.LeaderEpoch > old.LeaderEpoch ||
						(s.LeaderEpoch == old.LeaderEpoch && len(s.ISR) > len(old.ISR)) {
						out[p.Partition] = s
					}
				}
			}
		})
	}
	wg.Wait()
	if len(out) == 0 {
		return nil, fmt.Errorf("clustertest: describe %s: %w", topic, errors.Join(errs...))
	}
	return out, nil
}

// Until polls cond until it returns nil or ctx ends; the error then names
// what was awaited and cond's last error.
func Until(ctx context.Context, what string, cond func(context.Context) error) error {
	var last error
	for {
		if last = cond(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("clustertest: %s: not reached: %w (last: %v)", what, ctx.Err(), last)
		case <-time.After(pollInterval):
		}
	}
}

// CreateTopic creates topic with the given partitions and replication
// factor (configs may be nil) and waits until every partition has a leader
// and its full ISR.
func CreateTopic(ctx context.Context, c cluster.Cluster, cl *kgo.Client, topic string, partitions int32, rf int16, configs map[string]*string) error {
	err := Until(ctx, "create topic "+topic, func(ctx context.Context) error {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, rf
		for k, v := range configs {
			rc := kmsg.NewCreateTopicsRequestTopicConfig()
			rc.Name, rc.Value = k, v
			rt.Configs = append(rt.Configs, rc)
		}
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 15_000
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		for _, t := range resp.Topics {
			if err := kerr.ErrorForCode(t.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return WaitFullISR(ctx, c, cl, topic, partitions)
}

// WaitFullISR waits until topic has the given number of partitions, each
// with a leader and every replica in its ISR.
func WaitFullISR(ctx context.Context, c cluster.Cluster, cl *kgo.Client, topic string, partitions int32) error {
	return Until(ctx, topic+": every partition led with full ISR", func(ctx context.Context) error {
		st, err := Describe(ctx, c, cl, topic)
		if err != nil {
			return err
		}
		if int32(len(st)) != partitions {
			return fmt.Errorf("%d of %d partitions listed", len(st), partitions)
		}
		for p, s := range st {
			if s.Leader < 0 || !s.FullISR() {
				return fmt.Errorf("partition %d: leader %d, replicas %v, ISR %v", p, s.Leader, s.Replicas, s.ISR)
			}
		}
		return nil
	})
}

// WaitLeader waits until partition p of topic has a leader other than
// not (pass -1 for any leader) and returns it.
func WaitLeader(ctx context.Context, c cluster.Cluster, cl *kgo.Client, topic string, p, not int32) (PartitionState, error) {
	var got PartitionState
	err := Until(ctx, fmt.Sprintf("%s-%d led by a node other than %d", topic, p, not), func(ctx context.Context) error {
		st, err := Describe(ctx, c, cl, topic)
		if err != nil {
			return err
		}
		s, ok := st[p]
		if !ok || s.Leader < 0 || s.Leader == not {
			return fmt.Errorf("state %+v", s)
		}
		got = s
		return nil
	})
	return got, err
}
