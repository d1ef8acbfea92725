package workload

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/history"
)

// consumerOpts are options every recording consumer shares: read
// uncommitted from the leader (no follower fetching: it may lag, and the
// checker does not allow for that).
func (w *Workload) consumerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(w.cfg.seeds()...),
		kgo.FetchMaxWait(w.cfg.PollTimeout / 2),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
}

// pollRecords turns fetches into the history's per-partition record lists,
// in the order the client returned them.
func pollRecords(fs kgo.Fetches) []history.PartitionRecords {
	var out []history.PartitionRecords
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		pr := history.PartitionRecords{Topic: p.Topic, Partition: p.Partition}
		for _, r := range p.Records {
			pr.Records = append(pr.Records, history.Record{Offset: r.Offset, Value: string(r.Value)})
		}
		out = append(out, pr)
	})
	return out
}

// pollErr is the first fetch error other than the poll's own deadline, for
// the log.
func pollErr(fs kgo.Fetches) error {
	var first error
	fs.EachError(func(_ string, _ int32, err error) {
		if first == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			first = err
		}
	})
	return first
}

func (w *Workload) allPartitions() []history.TopicPartition {
	out := make([]history.TopicPartition, w.cfg.Partitions)
	for i := range out {
		out[i] = history.TopicPartition{Topic: w.cfg.Topic, Partition: int32(i)}
	}
	return out
}

// consumeAssigned is assign consumer i: every partition by manual
// assignment from the start, polled until ctx ends.
func (w *Workload) consumeAssigned(ctx context.Context, i int) {
	log := w.cfg.logger().With("client", fmt.Sprintf("assign-consumer-%d", i))
	process := w.newProcess()
	offsets := map[int32]kgo.Offset{}
	for p := range w.cfg.Partitions {
		offsets[int32(p)] = kgo.NewOffset().AtStart()
	}
	assign := &history.Assign{Partitions: w.allPartitions(), SeekToBeginning: true}
	_, err := w.rec.Invoke(process, history.FAssign, assign)
	w.noteRecordErr(err)
	cl, err := kgo.NewClient(append(w.consumerOpts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.cfg.Topic: offsets}))...)
	if err != nil {
		_, rerr := w.rec.Fail(process, assign, err)
		w.noteRecordErr(rerr)
		log.Error("start consumer", "err", err)
		return
	}
	defer cl.Close()
	_, err = w.rec.Ok(process, assign)
	w.noteRecordErr(err)
	for ctx.Err() == nil {
		w.poll(ctx, cl, process, "", nil, log)
	}
}

// poll records one poll of cl; rebalanced, when set, is called at the
// poll's completion for the partitions whose assignment changed.
func (w *Workload) poll(ctx context.Context, cl *kgo.Client, process int, group string, rebalanced func() []history.TopicPartition, log interface{ Debug(string, ...any) }) {
	_, err := w.rec.Invoke(process, history.FPoll, &history.Poll{Group: group})
	w.noteRecordErr(err)
	pctx, cancel := context.WithTimeout(ctx, w.cfg.PollTimeout)
	fs := cl.PollRecords(pctx, 500)
	cancel()
	v := &history.Poll{Group: group, Partitions: pollRecords(fs)}
	if rebalanced != nil {
		v.Rebalanced = rebalanced()
	}
	if perr := pollErr(fs); perr != nil {
		log.Debug("poll", "err", perr)
	}
	_, err = w.rec.Ok(process, v)
	w.noteRecordErr(err)
}

// rebalanceLog collects the partitions whose assignment changed between
// two polls, from franz-go's group callbacks.
type rebalanceLog struct {
	mu      sync.Mutex
	changed map[history.TopicPartition]bool
}

func (r *rebalanceLog) note(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.changed == nil {
		r.changed = map[history.TopicPartition]bool{}
	}
	for t, ps := range m {
		for _, p := range ps {
			r.changed[history.TopicPartition{Topic: t, Partition: p}] = true
		}
	}
}

func (r *rebalanceLog) take() []history.TopicPartition {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]history.TopicPartition, 0, len(r.changed))
	for tp := range r.changed {
		out = append(out, tp)
	}
	r.changed = nil
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

// consumeGroup is group consumer i: subscribed to the topic in cfg.Group.
// Rebalances wait until the current poll is recorded (BlockRebalanceOnPoll)
// so each change is attributed to the next poll.
func (w *Workload) consumeGroup(ctx context.Context, i int) {
	log := w.cfg.logger().With("client", fmt.Sprintf("group-consumer-%d", i))
	process := w.newProcess()
	var rb rebalanceLog
	sub := &history.Subscribe{Group: w.cfg.Group, Topics: []string{w.cfg.Topic}}
	_, err := w.rec.Invoke(process, history.FSubscribe, sub)
	w.noteRecordErr(err)
	cl, err := kgo.NewClient(append(w.consumerOpts(),
		kgo.ConsumerGroup(w.cfg.Group),
		kgo.ConsumeTopics(w.cfg.Topic),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(rb.note),
		kgo.OnPartitionsRevoked(rb.note),
		kgo.OnPartitionsLost(rb.note),
	)...)
	if err != nil {
		_, rerr := w.rec.Fail(process, sub, err)
		w.noteRecordErr(rerr)
		log.Error("start consumer", "err", err)
		return
	}
	defer cl.Close()
	_, err = w.rec.Ok(process, sub)
	w.noteRecordErr(err)
	for ctx.Err() == nil {
		w.poll(ctx, cl, process, w.cfg.Group, rb.take, log)
		cl.AllowRebalance()
	}
}
