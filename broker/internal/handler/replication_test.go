package handler

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/broker/internal/replica"
	"github.com/highwater-io/highwater/broker/internal/topics"
	"github.com/highwater-io/highwater/internal/vfs"
)

// cannedReplication answers FollowerFetch with a fixed result per
// partition index; the rest of the interface is not used by a follower
// fetch.
type cannedReplication struct {
	results map[int32]replica.FetchResult
}

func (c *cannedReplication) Produce([16]byte, int32, int16, time.Duration, func(int32) (int64, error)) (<-chan error, error) {
	return nil, errors.New("not used")
}
func (c *cannedReplication) HighWatermark([16]byte, int32) (int64, error) { return 0, nil }
func (c *cannedReplication) LatestOffset([16]byte, int32) (int64, error)  { return 0, nil }
func (c *cannedReplication) EndOffsetForEpoch([16]byte, int32, int32, int32) (replica.EpochEndOffset, error) {
	return replica.EpochEndOffset{}, errors.New("not used")
}
func (c *cannedReplication) FollowerFetch(_ [16]byte, index int32, _ replica.FollowerFetch) (replica.FetchResult, error) {
	return c.results[index], nil
}

// quiet is a partition the follower has caught up on: no records, no
// error, nothing diverging.
var quiet = replica.FetchResult{HighWatermark: 5, LogEndOffset: 5, ReadOffset: -1}

// replicaFetchServer is a cluster-mode Server over an in-memory catalogue
// holding topic "r" with three partitions, answered by repl.
func replicaFetchServer(t *testing.T, repl Replication) (*Server, *topics.Topic) {
	t.Helper()
	b, _, err := config.NewBroker(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := topics.Open(topics.Options{FS: vfs.NewMem(), Dir: "/data", Broker: b, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	tp, err := cat.Create("r", 3, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{NodeID: 1, Broker: b, Topics: cat, Now: time.Now, Replication: repl}), tp
}

// followerFetchRequest is a follower's fetch of partitions 0-2 of tp at
// offset 5 with the given long poll.
func followerFetchRequest(tp *topics.Topic, maxWait time.Duration) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 13
	req.ReplicaID, req.ReplicaState.ID = 2, 2
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = int32(maxWait.Milliseconds()), 1, 1<<20
	req.SessionID, req.SessionEpoch = 0, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = tp.Name, tp.ID
	for i := range int32(3) {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.FetchOffset, rp.LastFetchedEpoch = i, 3, 5, 2
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// A follower's fetch with a partition that diverges or has an error is
// answered at once, however long its max wait, as Kafka's ReplicaManager
// answers it without parking it in the fetch purgatory: the follower must
// truncate (and take the leader's high watermark) or find the new leader
// now. The bound below is 10 s against a 60 s long poll; nothing here
// depends on how fast the machine is.
func TestReplicaFetchAnswersAtOnce(t *testing.T) {
	cases := []struct {
		name  string
		odd   replica.FetchResult // partition 1's answer
		check func(t *testing.T, p kmsg.FetchResponseTopicPartition)
	}{{
		name: "diverging epoch",
		odd:  replica.FetchResult{HighWatermark: 4, LogEndOffset: 4, Diverging: &replica.EpochEndOffset{Epoch: 2, EndOffset: 3}, ReadOffset: -1},
		check: func(t *testing.T, p kmsg.FetchResponseTopicPartition) {
			if p.ErrorCode != 0 || p.DivergingEpoch.Epoch != 2 || p.DivergingEpoch.EndOffset != 3 || p.HighWatermark != 4 {
				t.Errorf("partition 1: error %d, diverging %d/%d, hw %d; want 0, 2/3, 4",
					p.ErrorCode, p.DivergingEpoch.Epoch, p.DivergingEpoch.EndOffset, p.HighWatermark)
			}
		},
	}, {
		name: "fenced leader epoch",
		odd:  replica.FetchResult{Err: replica.ErrFencedLeaderEpoch, HighWatermark: -1, ReadOffset: -1},
		check: func(t *testing.T, p kmsg.FetchResponseTopicPartition) {
			if p.ErrorCode != kerr.FencedLeaderEpoch.Code {
				t.Errorf("partition 1: error %d, want FENCED_LEADER_EPOCH", p.ErrorCode)
			}
		},
	}, {
		name: "offset out of range",
		odd:  replica.FetchResult{Err: replica.ErrOffsetOutOfRange, HighWatermark: 4, ReadOffset: -1},
		check: func(t *testing.T, p kmsg.FetchResponseTopicPartition) {
			if p.ErrorCode != kerr.OffsetOutOfRange.Code {
				t.Errorf("partition 1: error %d, want OFFSET_OUT_OF_RANGE", p.ErrorCode)
			}
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, tp := replicaFetchServer(t, &cannedReplication{results: map[int32]replica.FetchResult{0: quiet, 1: c.odd, 2: quiet}})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := s.replicaFetch(ctx, followerFetchRequest(tp, time.Minute), 2)
			if err != nil {
				t.Fatalf("fetch with a 60 s max wait was held past the 10 s bound (%v): a partition that must act now did not end the long poll", err)
			}
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 3 {
				t.Fatalf("answer has %d topics, want 1 with 3 partitions", len(resp.Topics))
			}
			for _, i := range []int{0, 2} {
				if p := resp.Topics[0].Partitions[i]; p.ErrorCode != 0 || p.DivergingEpoch.Epoch != -1 || p.HighWatermark != 5 {
					t.Errorf("quiet partition %d: error %d, diverging epoch %d, hw %d", i, p.ErrorCode, p.DivergingEpoch.Epoch, p.HighWatermark)
				}
			}
			c.check(t, resp.Topics[0].Partitions[1])
		})
	}
}

// The control: a fetch whose partitions are all caught up is held for its
// long poll (here until its context ends, long before the 60 s max wait),
// so the test above measures the early answer and not a fetch that never
// waits.
func TestReplicaFetchWaitsWhenQuiet(t *testing.T) {
	s, tp := replicaFetchServer(t, &cannedReplication{results: map[int32]replica.FetchResult{0: quiet, 1: quiet, 2: quiet}})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	resp, err := s.replicaFetch(ctx, followerFetchRequest(tp, time.Minute), 2)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("quiet fetch answered before its long poll ended (resp %v, err %v)", resp != nil, err)
	}
}
