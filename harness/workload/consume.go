package workload

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/history"
	"github.com/highwater-io/highwater/internal/seed"
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
		w.poll(ctx, cl, process, log)
	}
}

// poll records one poll of an assign consumer.
func (w *Workload) poll(ctx context.Context, cl *kgo.Client, process int, log interface{ Debug(string, ...any) }) {
	_, err := w.rec.Invoke(process, history.FPoll, &history.Poll{})
	w.noteRecordErr(err)
	pctx, cancel := context.WithTimeout(ctx, w.cfg.PollTimeout)
	fs := cl.PollRecords(pctx, 500)
	cancel()
	v := &history.Poll{Partitions: pollRecords(fs)}
	if perr := pollErr(fs); perr != nil {
		log.Debug("poll", "err", perr)
	}
	_, err = w.rec.Ok(process, v)
	w.noteRecordErr(err)
}

// consumeGroup is group consumer slot i: subscribed to the topic in
// cfg.Group, committing synchronously what each poll returned (no
// autocommit, so every commit is in the history). The slot restarts its
// client once or twice per run, at times drawn from the seed, under a new
// process id each time (a new consumer session): a restarted consumer must
// resume from the group's committed offsets, and its leaving and joining
// hand partitions over between members.
func (w *Workload) consumeGroup(ctx context.Context, i int) {
	rng := seed.Rand(w.cfg.Seed, fmt.Sprintf("group-consumer-%d", i))
	for ctx.Err() == nil {
		life := w.cfg.Duration/3 + time.Duration(rng.Int64N(int64(w.cfg.Duration)))
		sctx, cancel := context.WithTimeout(ctx, life)
		w.groupSession(sctx, ctx, i)
		cancel()
	}
}

// groupSession is one client of group consumer slot i, until sctx ends.
// Rebalances wait until the current poll is recorded and its records
// committed (BlockRebalanceOnPoll), so each membership change is
// attributed to the poll it happened in and a member never commits a
// partition after giving it up. Commits are bounded by runCtx, not sctx.
func (w *Workload) groupSession(sctx, runCtx context.Context, i int) {
	log := w.cfg.logger().With("client", fmt.Sprintf("group-consumer-%d", i))
	process := w.newProcess()
	var ml membershipLog
	sub := &history.Subscribe{Group: w.cfg.Group, Topics: []string{w.cfg.Topic}}
	_, err := w.rec.Invoke(process, history.FSubscribe, sub)
	w.noteRecordErr(err)
	cl, err := kgo.NewClient(append(w.consumerOpts(),
		kgo.ConsumerGroup(w.cfg.Group),
		kgo.ConsumeTopics(w.cfg.Topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(ml.note(history.GroupAssigned)),
		kgo.OnPartitionsRevoked(ml.note(history.GroupRevoked)),
		kgo.OnPartitionsLost(ml.note(history.GroupLost)),
	)...)
	if err != nil {
		_, rerr := w.rec.Fail(process, sub, err)
		w.noteRecordErr(rerr)
		log.Error("start consumer", "err", err)
		waitCtx(sctx, time.Second)
		return
	}
	// PollRecords leaves rebalances blocked; closing must not wait for an
	// AllowRebalance that never comes.
	defer cl.CloseAllowingRebalance()
	_, err = w.rec.Ok(process, sub)
	w.noteRecordErr(err)
	for sctx.Err() == nil {
		v := w.groupPoll(sctx, cl, process, &ml, log)
		w.commitPolled(runCtx, cl, process, v)
	}
}

// waitCtx waits d or until ctx ends.
func waitCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// groupPoll records one poll of a group consumer. Rebalances are allowed
// only once the poll is invoked, so the membership changes it reports all
// happened inside it.
func (w *Workload) groupPoll(ctx context.Context, cl *kgo.Client, process int, ml *membershipLog, log interface{ Debug(string, ...any) }) *history.Poll {
	_, err := w.rec.Invoke(process, history.FPoll, &history.Poll{Group: w.cfg.Group})
	w.noteRecordErr(err)
	cl.AllowRebalance()
	pctx, cancel := context.WithTimeout(ctx, w.cfg.PollTimeout)
	fs := cl.PollRecords(pctx, 500)
	cancel()
	evs := ml.take()
	v := &history.Poll{Group: w.cfg.Group, Partitions: pollRecords(fs), Membership: evs, Rebalanced: changedPartitions(evs)}
	if perr := pollErr(fs); perr != nil {
		log.Debug("poll", "err", perr)
	}
	_, err = w.rec.Ok(process, v)
	w.noteRecordErr(err)
	return v
}
