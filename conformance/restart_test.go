package conformance

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCommittedOffsetsSurviveRestart: offsets a group member committed,
// and the records themselves, survive a graceful restart and a crash; a new
// member of the group resumes exactly at the commits.
func TestCommittedOffsetsSurviveRestart(t *testing.T) {
	for _, how := range []string{"graceful", "kill"} {
		t.Run(how, func(t *testing.T) {
			tg := newOwnTarget(t, nil)
			committedOffsetsSurvive(t, tg, how == "kill")
		})
	}
}

func committedOffsetsSurvive(t *testing.T, tg *target, crash bool) {
	ctx := testCtx(t, 90*time.Second)
	topic := tg.createTopic(ctx, 2, nil)
	group := uniqueName(t, "g")
	prod := tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(2) {
		for i := range 10 {
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, i)}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
	}
	commits := map[int32]int64{0: 5, 1: 7}

	member := func() *kgo.Client {
		return tg.client(
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topic),
			kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.SessionTimeout(groupSessionTimeout),
			kgo.FetchMaxWait(500*time.Millisecond),
		)
	}
	m := member()
	for n := 0; n < 20; {
		fs := m.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("first member consumed %d of 20 records", n)
		}
		n += fs.NumRecords()
	}
	toCommit := map[string]map[int32]kgo.EpochOffset{topic: {}}
	for p, o := range commits {
		toCommit[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var commitErr error
	m.CommitOffsetsSync(ctx, toCommit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err == nil {
			err = offsetCommitErr(resp)
		}
		commitErr = err
	})
	if commitErr != nil {
		t.Fatalf("commit: %v", commitErr)
	}
	m.Close()

	if crash {
		tg.Kill()
	}
	tg.Restart()

	adm := tg.admin()
	var offs map[int32]int64
	eventually(t, ctx, "committed offsets readable after restart", func() error {
		resp, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return err
		}
		if err := resp.Error(); err != nil {
			return err
		}
		offs = map[int32]int64{}
		for p := range int32(2) {
			if o, ok := resp.Lookup(topic, p); ok {
				offs[p] = o.At
			}
		}
		return nil
	})
	for p, want := range commits {
		if offs[p] != want {
			t.Errorf("partition %d: committed offset after restart %d, want %d", p, offs[p], want)
		}
	}

	m2 := member()
	first := map[int32]*kgo.Record{}
	count := map[int32]int{}
	for count[0]+count[1] < 20-int(commits[0]+commits[1]) {
		fs := m2.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("new member consumed %v records after restart", count)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if first[r.Partition] == nil {
				first[r.Partition] = r
			}
			count[r.Partition]++
		})
	}
	for p, want := range commits {
		r := first[p]
		if r == nil || r.Offset != want || string(r.Value) != fmt.Sprintf("p%d-%d", p, want) {
			t.Errorf("partition %d: new member started at %+v, want offset %d", p, r, want)
		}
	}
}

// offsetCommitErr returns the first partition error of a commit response.
func offsetCommitErr(resp *kmsg.OffsetCommitResponse) error {
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// TestConsumerKeepsFetchingAcrossRestart: a consumer connected before the
// broker restarts goes on reading after it. Its fetch session (KIP-227)
// died with the old process, so its first request names a session id the
// broker does not know: with epoch 0 that asks for a new session, with
// epoch -1 for a sessionless fetch, and Kafka serves both (an unknown id
// with a positive epoch is FETCH_SESSION_ID_NOT_FOUND). franz-go retries
// the old id with epoch 0 and then -1, so a broker refusing those leaves
// the consumer stuck for good. Only the crash is tried: a graceful restart
// loses the sessions the same way and costs the Kafka pass half a minute
// more.
func TestConsumerKeepsFetchingAcrossRestart(t *testing.T) {
	for _, how := range []string{"kill"} {
		t.Run(how, func(t *testing.T) {
			tg := newOwnTarget(t, nil)
			ctx := testCtx(t, 2*time.Minute)
			topic := tg.createTopic(ctx, 1, nil)
			prod := tg.client(kgo.DefaultProduceTopic(topic))
			produce := func(from, to int) {
				t.Helper()
				for i := from; i < to; i++ {
					if err := prod.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
						t.Fatalf("produce %d: %v", i, err)
					}
				}
			}
			cons := tg.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
				kgo.FetchMaxWait(200*time.Millisecond))
			got := 0
			consume := func(want int, what string) {
				t.Helper()
				cctx, cancel := context.WithTimeout(ctx, 45*time.Second)
				defer cancel()
				for got < want {
					fs := cons.PollFetches(cctx)
					if cctx.Err() != nil {
						t.Fatalf("%s: consumed %d of %d records", what, got, want)
					}
					fs.EachRecord(func(r *kgo.Record) {
						if string(r.Value) != fmt.Sprintf("v%d", got) || r.Offset != int64(got) {
							t.Fatalf("offset %d: %q, want v%d at offset %d", r.Offset, r.Value, got, got)
						}
						got++
					})
				}
			}
			// Several fetches, so the consumer runs an incremental session.
			for i := range 5 {
				produce(i*4, i*4+4)
				consume(i*4+4, "before the restart")
			}
			tg.Kill()
			tg.Restart()
			produce(20, 30)
			consume(30, "after the restart (the consumer was connected before it)")
		})
	}
}
