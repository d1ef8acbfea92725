package broker

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/highwater-io/highwater/internal/vfs"
)

// hwProbe asks node addr directly for partition 0's latest offset
// (ListOffsets) and its high watermark (a consumer Fetch at offset from).
// ok is false when the node does not answer as leader (or answers
// OFFSET_NOT_AVAILABLE: a new leader still learning its high watermark).
func hwProbe(ctx context.Context, addr, topic string, topicID [16]byte, from int64) (latest, fetchHW int64, ok bool, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return 0, 0, false, err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	br := cl.SeedBrokers()[0]

	lreq := kmsg.NewPtrListOffsetsRequest()
	lreq.ReplicaID = -1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition, lp.Timestamp, lp.CurrentLeaderEpoch = 0, -1, -1
	lt.Partitions = append(lt.Partitions, lp)
	lreq.Topics = append(lreq.Topics, lt)
	resp, err := br.Request(rctx, lreq)
	if err != nil {
		return 0, 0, false, nil // the node may be closing
	}
	lr := resp.(*kmsg.ListOffsetsResponse)
	if len(lr.Topics) != 1 || len(lr.Topics[0].Partitions) != 1 {
		return 0, 0, false, fmt.Errorf("ListOffsets: malformed answer %+v", lr)
	}
	lpr := lr.Topics[0].Partitions[0]
	if lpr.ErrorCode != 0 {
		return 0, 0, false, nil // NOT_LEADER_OR_FOLLOWER, OFFSET_NOT_AVAILABLE, ...: retry
	}
	latest = lpr.Offset

	freq := kmsg.NewPtrFetchRequest()
	freq.ReplicaID, freq.MaxWaitMillis, freq.MaxBytes, freq.SessionEpoch = -1, 0, 1<<20, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = topic, topicID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 0, from, 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	fresp, err := br.Request(rctx, freq)
	if err != nil {
		return latest, 0, false, nil
	}
	fr := fresp.(*kmsg.FetchResponse)
	if fr.ErrorCode != 0 || len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
		return latest, 0, false, nil
	}
	fpr := fr.Topics[0].Partitions[0]
	if fpr.ErrorCode != 0 {
		return latest, 0, false, nil
	}
	return latest, fpr.HighWatermark, true, nil
}

// Regression (BUGS.md #9, found by `highwater chaos --impl reference
// --nodes 3 --faults kill --seed 7`): after the leader goes away, the new
// leader must never answer ListOffsets latest or a consumer Fetch with a
// high watermark below what acks=all already acknowledged.
func TestClusterNewLeaderKeepsHighWatermark(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const topic = "hw-failover"
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	c, seeds, leader, closeAll := startReplicatedTopic(ctx, t, topic)
	defer closeAll()
	var topicID [16]byte
	eventually(ctx, t, "topic id", func() error {
		resp, err := c.metadata(ctx, leader, topic)
		if err != nil {
			return err
		}
		if len(resp.Topics) != 1 || resp.Topics[0].TopicID == ([16]byte{}) {
			return fmt.Errorf("no topic id in %+v", resp.Topics)
		}
		topicID = resp.Topics[0].TopicID
		return nil
	})
	pcl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0), kgo.MaxBufferedRecords(50))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	const acked = 300
	if err := produceN(ctx, pcl, topic, 0, acked); err != nil {
		t.Fatalf("acks=all produce of %d: %v", acked, err)
	}

	c.stopNode(leader)
	var survivors []int32
	for _, id := range []int32{1, 2, 3} {
		if id != leader {
			survivors = append(survivors, id)
		}
	}
	// From the first leader answer on, for a while, every answer from
	// either survivor must cover the acknowledged records.
	var answered time.Time
	for answered.IsZero() || time.Since(answered) < 3*time.Second {
		if ctx.Err() != nil {
			t.Fatalf("no survivor answered as leader: %v", ctx.Err())
		}
		for _, id := range survivors {
			latest, hw, ok, err := hwProbe(ctx, c.addr(id), topic, topicID, acked-1)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				continue
			}
			if answered.IsZero() {
				answered = time.Now()
			}
			if latest < acked || hw < acked {
				t.Fatalf("node %d (new leader) answered ListOffsets latest %d, Fetch high watermark %d after %d acks=all records were acknowledged",
					id, latest, hw, acked)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The high watermark checkpoint round-trips; a missing or damaged file is
// 0 (relearned from the leader), never an error or a panic.
func TestHWCheckpoint(t *testing.T) {
	fsys := vfs.NewMem()
	const dir = "/data"
	log := slog.New(slog.DiscardHandler)
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := loadHW(fsys, dir, log); got != 0 {
		t.Fatalf("missing checkpoint: %d, want 0", got)
	}
	for _, hw := range []int64{0, 1, 202, 1 << 40} {
		if err := saveHW(fsys, dir, hw); err != nil {
			t.Fatal(err)
		}
		if got := loadHW(fsys, dir, log); got != hw {
			t.Fatalf("saved %d, loaded %d", hw, got)
		}
	}
	for _, bad := range []string{"", "0\n", "1\n5\n", "0\n-3\n", "0\nx\n", "0\n5\n6\n"} {
		if err := vfs.WriteFileAtomic(fsys, filepath.Join(dir, hwCheckpointFile), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := loadHW(fsys, dir, log); got != 0 {
			t.Errorf("checkpoint %q: loaded %d, want 0", bad, got)
		}
	}
}
