package workload

import (
	"context"
	"errors"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/history"
)

// membershipLog collects a group consumer's membership changes from
// franz-go's callbacks until the running poll takes them. With
// BlockRebalanceOnPoll the callbacks run only between AllowRebalance and
// the moment PollRecords takes its records, so every event a poll takes
// happened inside that poll's operation and before its records were taken.
type membershipLog struct {
	mu     sync.Mutex
	events []history.GroupEvent
}

func (m *membershipLog) note(kind history.GroupEventKind) func(context.Context, *kgo.Client, map[string][]int32) {
	return func(_ context.Context, cl *kgo.Client, parts map[string][]int32) {
		member, gen := cl.GroupMetadata()
		ev := history.GroupEvent{Kind: kind, MemberID: member, Generation: gen, Partitions: sortedPartitions(parts)}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.events = append(m.events, ev)
	}
}

// take returns and forgets the events noted so far.
func (m *membershipLog) take() []history.GroupEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.events
	m.events = nil
	return out
}

func sortedPartitions(m map[string][]int32) []history.TopicPartition {
	var out []history.TopicPartition
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, history.TopicPartition{Topic: t, Partition: p})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// changedPartitions are the partitions any of evs names: the poll's
// Rebalanced field, where position continuity is not expected.
func changedPartitions(evs []history.GroupEvent) []history.TopicPartition {
	seen := map[history.TopicPartition]bool{}
	var out []history.TopicPartition
	for _, ev := range evs {
		for _, tp := range ev.Partitions {
			if !seen[tp] {
				seen[tp] = true
				out = append(out, tp)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// definiteCommitErrors are OffsetCommit answers the group coordinator gives
// after validating the request and before appending anything to the
// offsets log, so the partition certainly was not committed. Everything
// else (timeouts, COORDINATOR_NOT_AVAILABLE — which also covers an append
// that missed min.insync.replicas after it was written — NOT_COORDINATOR
// during a move, disconnects) leaves the outcome open.
var definiteCommitErrors = []error{
	kerr.IllegalGeneration,
	kerr.UnknownMemberID,
	kerr.RebalanceInProgress,
	kerr.FencedInstanceID,
	kerr.StaleMemberEpoch,
	kerr.GroupAuthorizationFailed,
	kerr.TopicAuthorizationFailed,
	kerr.OffsetMetadataTooLarge,
	kerr.InvalidCommitOffsetSize,
	kerr.UnknownTopicOrPartition,
	kerr.InvalidGroupID,
}

func classifyCommit(err error) history.Type {
	if err == nil {
		return history.TypeOK
	}
	for _, d := range definiteCommitErrors {
		if errors.Is(err, d) {
			return history.TypeFail
		}
	}
	return history.TypeInfo
}

// pollCommitOffsets are the offsets a poll's records commit: one past the
// last record returned for each partition.
func pollCommitOffsets(prs []history.PartitionRecords) map[string]map[int32]kgo.EpochOffset {
	out := map[string]map[int32]kgo.EpochOffset{}
	for _, pr := range prs {
		if len(pr.Records) == 0 {
			continue
		}
		if out[pr.Topic] == nil {
			out[pr.Topic] = map[int32]kgo.EpochOffset{}
		}
		out[pr.Topic][pr.Partition] = kgo.EpochOffset{Epoch: -1, Offset: pr.Records[len(pr.Records)-1].Offset + 1}
	}
	return out
}

// commitValue is the invoke value of a commit of offsets by group.
func commitValue(group string, offsets map[string]map[int32]kgo.EpochOffset) *history.Commit {
	c := &history.Commit{Group: group}
	for t, ps := range offsets {
		for p, eo := range ps {
			c.Offsets = append(c.Offsets, history.PartitionOffset{Topic: t, Partition: p, Offset: eo.Offset})
		}
	}
	sort.Slice(c.Offsets, func(i, j int) bool {
		a, b := c.Offsets[i], c.Offsets[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	return c
}

// commitOutcome completes inv from what CommitOffsetsSync reported: the
// member id and generation the request carried, each partition's result,
// and the operation's type (ok when every partition committed, fail when
// none can have, info otherwise).
func commitOutcome(inv *history.Commit, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) (*history.Commit, history.Type) {
	out := &history.Commit{Group: inv.Group, Offsets: append([]history.PartitionOffset(nil), inv.Offsets...)}
	if req != nil && (req.Generation >= 0 || req.MemberID != "") {
		gen := req.Generation
		out.MemberID, out.Generation = req.MemberID, &gen
	}
	answered := err == nil && resp != nil
	codes := map[history.TopicPartition]int16{}
	if answered {
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				codes[history.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = p.ErrorCode
			}
		}
	}
	count := map[history.Type]int{}
	for i := range out.Offsets {
		po := &out.Offsets[i]
		perr := err
		if code, ok := codes[po.TopicPartition()]; answered && ok {
			perr = kerr.ErrorForCode(code)
		} else if answered || perr == nil {
			perr = errNoPartitionAnswer
		}
		po.Result = classifyCommit(perr)
		if perr != nil {
			po.Error = perr.Error()
		}
		count[po.Result]++
	}
	switch len(out.Offsets) {
	case count[history.TypeOK]:
		return out, history.TypeOK
	case count[history.TypeFail]:
		return out, history.TypeFail
	}
	return out, history.TypeInfo
}

// errNoPartitionAnswer marks a partition the commit's answer did not
// mention (or a commit that never answered without saying why): unknown.
var errNoPartitionAnswer = errors.New("workload: commit answer does not mention the partition")

// commitPolled synchronously commits what poll returned and records the
// commit as one operation of process.
func (w *Workload) commitPolled(ctx context.Context, cl *kgo.Client, process int, poll *history.Poll) {
	offsets := pollCommitOffsets(poll.Partitions)
	if len(offsets) == 0 {
		return
	}
	inv := commitValue(poll.Group, offsets)
	_, err := w.rec.Invoke(process, history.FCommit, inv)
	w.noteRecordErr(err)
	var (
		out  *history.Commit
		typ  history.Type
		cerr error
	)
	// The commit outlives the run's context (bounded by SendTimeout): the
	// records were delivered, so whether they got committed is part of
	// what the checker judges.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.SendTimeout)
	defer cancel()
	cl.CommitOffsetsSync(cctx, offsets, func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		out, typ = commitOutcome(inv, req, resp, err)
		cerr = err
	})
	if out == nil {
		out, typ = commitOutcome(inv, nil, nil, errors.New("commit: no callback"))
	}
	switch typ {
	case history.TypeOK:
		_, err = w.rec.Ok(process, out)
	case history.TypeFail:
		_, err = w.rec.Fail(process, out, firstErr(cerr, out))
	default:
		_, err = w.rec.Info(process, out, firstErr(cerr, out))
	}
	w.noteRecordErr(err)
}

// firstErr is the request's error, or the first partition's.
func firstErr(err error, c *history.Commit) error {
	if err != nil {
		return err
	}
	for _, p := range c.Offsets {
		if p.Error != "" {
			return errors.New(p.Error)
		}
	}
	return nil
}
