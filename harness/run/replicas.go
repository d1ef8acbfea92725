package run

// The replica divergence snapshot (issue 6): after the final drain the run
// asks the cluster for the workload topic's high watermarks and ISRs,
// stops the cluster, reads every node's log of each workload partition
// offline from its data directory (Kafka's on-disk layout, which the
// reference broker shares: <log.dir>/<topic>-<partition>/<base>.log of v2
// record batches, decoded with franz-go's fetch parsing) and appends what
// each replica holds to the history (history.Replicas), for
// checker.Replicas to compare.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/history"
)

// replicaQueryTimeout bounds the high watermark and ISR query before the
// cluster stops.
const replicaQueryTimeout = 15 * time.Second

// recordReplicas records the replicas' logs of the workload topic in hw;
// stop stops the cluster (the logs are read once no broker writes them).
// Nothing here fails the run: what could not be read is said in the event.
func (s *runState) recordReplicas(ctx context.Context, c cluster.Cluster, hw *history.Writer, stop func()) {
	topic, parts := s.sc.Workload.Topic, int32(s.sc.Workload.Partitions)
	dd, ok := c.(cluster.DataDirs)
	if !ok {
		stop()
		why := fmt.Sprintf("the %s driver keeps no data directories the harness can read", s.sc.Cluster.Impl)
		if _, err := hw.RecordReplicas(history.Replicas{Skipped: why, Topic: topic}); err != nil {
			s.log.Warn("record replicas", "err", err)
		}
		return
	}
	qctx, cancel := context.WithTimeout(ctx, replicaQueryTimeout)
	hws, isrs, qerr := queryPartitions(qctx, c.Bootstrap(), topic)
	cancel()
	if qerr != nil {
		s.log.Warn("replicas: high watermarks", "err", qerr)
	}
	stop()
	r := history.Replicas{Topic: topic}
	for p := range parts {
		rp := history.ReplicaPartition{Partition: p, HighWatermark: -1, ISR: isrs[p]}
		if v, ok := hws[p]; ok {
			rp.HighWatermark = v
		}
		for _, n := range c.Nodes() {
			dir := filepath.Join(dd.DataDir(n.ID), topic+"-"+strconv.Itoa(int(p)))
			rl, err := readReplicaLog(dir, topic, p)
			if errors.Is(err, fs.ErrNotExist) {
				continue // not a replica of p
			}
			rl.Node = n.ID
			if err != nil {
				rl.Error = err.Error()
			}
			rp.Replicas = append(rp.Replicas, rl)
		}
		r.Partitions = append(r.Partitions, rp)
	}
	if _, err := hw.RecordReplicas(r); err != nil {
		s.log.Warn("record replicas", "err", err)
	}
	s.say("replica logs of %s recorded (%d partitions)", topic, len(r.Partitions))
}

// queryPartitions asks the cluster for topic's high watermarks (the
// read_uncommitted end offsets) and ISRs by partition.
func queryPartitions(ctx context.Context, bootstrap, topic string) (map[int32]int64, map[int32][]int32, error) {
	hws, isrs := map[int32]int64{}, map[int32][]int32{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...))
	if err != nil {
		return hws, isrs, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	} else {
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err == nil {
				hws[o.Partition] = o.Offset
			}
		})
	}
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		errs = append(errs, err)
	} else {
		details.EachPartition(func(d kadm.PartitionDetail) {
			if d.Err == nil {
				isrs[d.Partition] = slices.Sorted(slices.Values(d.ISR))
			}
		})
	}
	return hws, isrs, errors.Join(errs...)
}

// readReplicaLog reads the partition directory dir: its segment files in
// base offset order, each decoded as a run of record batches. The error
// wraps fs.ErrNotExist when dir does not exist; a corrupt batch ends the
// read with an error, keeping the records before it.
func readReplicaLog(dir, topic string, partition int32) (history.ReplicaLog, error) {
	rl := history.ReplicaLog{StartOffset: -1}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return rl, err
	}
	var segs []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".log") {
			segs = append(segs, e.Name())
		}
	}
	slices.Sort(segs) // zero-padded base offsets sort as numbers
	dec := kgo.DefaultDecompressor()
	for _, name := range segs {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return finish(rl), err
		}
		// An empty segment (a fresh roll) still says where the log ends.
		if base, err := strconv.ParseInt(strings.TrimSuffix(name, ".log"), 10, 64); err == nil {
			rl.EndOffset = max(rl.EndOffset, base)
		}
		if len(data) >= 8 && rl.StartOffset < 0 {
			rl.StartOffset = int64(binary.BigEndian.Uint64(data))
		}
		fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: topic, Partition: partition},
			&kmsg.FetchResponseTopicPartition{Partition: partition, RecordBatches: data}, dec, nil)
		for _, r := range fp.Records {
			rl.Offsets = append(rl.Offsets, r.Offset)
			rl.Values = append(rl.Values, string(r.Value))
		}
		rl.EndOffset = max(rl.EndOffset, next)
		if fp.Err != nil {
			return finish(rl), fmt.Errorf("%s: %w", name, fp.Err)
		}
	}
	return finish(rl), nil
}

// finish makes an empty log's start its end.
func finish(rl history.ReplicaLog) history.ReplicaLog {
	if rl.StartOffset < 0 {
		rl.StartOffset = rl.EndOffset
	}
	return rl
}
