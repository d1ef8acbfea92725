package workload

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/history"
	"github.com/highwater-io/highwater/internal/seed"
)

// ErrNoLeader means no node named a leader for the partition.
var ErrNoLeader = errors.New("workload: partition has no known leader")

// leader is the newest view of one partition's leadership.
type leader struct {
	node  int32
	epoch int32
}

// rawReader sends raw Fetch and ListOffsets requests to partition leaders.
type rawReader struct {
	w       *Workload
	cl      *kgo.Client
	topicID [16]byte
}

func (w *Workload) newRawReader() (*rawReader, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.cfg.seeds()...), kgo.RequestRetries(0))
	if err != nil {
		return nil, fmt.Errorf("workload: reader: %w", err)
	}
	return &rawReader{w: w, cl: cl}, nil
}

func (r *rawReader) close() { r.cl.Close() }

// leaderOf asks every broker the cluster lists for the topic's metadata
// and keeps the answer with the highest leader epoch: a deposed or cut-off
// leader keeps its stale view, the newest epoch is the truth.
func (r *rawReader) leaderOf(ctx context.Context, partition int32) (leader, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(r.w.cfg.Topic)
	req.Topics = append(req.Topics, rt)
	first, err := req.RequestWith(ctx, r.cl)
	if err != nil {
		return leader{}, err
	}
	best := leader{node: -1, epoch: -1}
	var mu sync.Mutex
	consider := func(resp *kmsg.MetadataResponse) {
		mu.Lock()
		defer mu.Unlock()
		for _, t := range resp.Topics {
			if t.Topic == nil || *t.Topic != r.w.cfg.Topic || t.ErrorCode != 0 {
				continue
			}
			if t.TopicID != [16]byte{} {
				r.topicID = t.TopicID
			}
			for _, p := range t.Partitions {
				if p.Partition == partition && p.ErrorCode == 0 && p.Leader >= 0 && p.LeaderEpoch > best.epoch {
					best = leader{node: p.Leader, epoch: p.LeaderEpoch}
				}
			}
		}
	}
	consider(first)
	var wg sync.WaitGroup
	for _, b := range first.Brokers {
		wg.Go(func() {
			bctx, cancel := context.WithTimeout(ctx, r.w.cfg.ReadTimeout/2)
			defer cancel()
			if resp, err := req.RequestWith(bctx, r.cl.Broker(int(b.NodeID))); err == nil {
				consider(resp)
			}
		})
	}
	wg.Wait()
	if best.node < 0 {
		return best, fmt.Errorf("%w: %s-%d", ErrNoLeader, r.w.cfg.Topic, partition)
	}
	return best, nil
}

// fetch reads partition at offset from its leader. The result holds the
// records at or above offset and the partition state the answer reported.
func (r *rawReader) fetch(ctx context.Context, partition int32, offset int64) (*history.Fetch, error) {
	out := &history.Fetch{Topic: r.w.cfg.Topic, Partition: partition, Offset: offset}
	ld, err := r.leaderOf(ctx, partition)
	if err != nil {
		return out, err
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	t := kmsg.NewFetchRequestTopic()
	t.Topic = r.w.cfg.Topic
	t.TopicID = r.topicID
	p := kmsg.NewFetchRequestTopicPartition()
	p.Partition = partition
	p.CurrentLeaderEpoch = ld.epoch
	p.FetchOffset = offset
	p.LogStartOffset = -1
	p.PartitionMaxBytes = 256 << 10
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, r.cl.Broker(int(ld.node)))
	if err != nil {
		return out, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return out, err
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.Partition != partition {
				continue
			}
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return out, err
			}
			recs, err := decodeBatches(rp.RecordBatches)
			if err != nil {
				return out, err
			}
			for _, rec := range recs {
				if rec.Offset >= offset {
					out.Records = append(out.Records, rec)
				}
			}
			out.HighWatermark = history.Int64(rp.HighWatermark)
			out.LastStableOffset = history.Int64(rp.LastStableOffset)
			out.LogStartOffset = history.Int64(rp.LogStartOffset)
			return out, nil
		}
	}
	return out, fmt.Errorf("workload: fetch response without %s-%d", r.w.cfg.Topic, partition)
}

// listOffsets asks partition's leader for its high watermark (the latest
// offset at read_uncommitted).
func (r *rawReader) listOffsets(ctx context.Context, partition int32) (*history.ListOffsets, error) {
	out := &history.ListOffsets{Topic: r.w.cfg.Topic, Partition: partition}
	ld, err := r.leaderOf(ctx, partition)
	if err != nil {
		return out, err
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = r.w.cfg.Topic
	p := kmsg.NewListOffsetsRequestTopicPartition()
	p.Partition = partition
	p.CurrentLeaderEpoch = ld.epoch
	p.Timestamp = -1 // latest: the high watermark
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, r.cl.Broker(int(ld.node)))
	if err != nil {
		return out, err
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.Partition != partition {
				continue
			}
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return out, err
			}
			out.HighWatermark = history.Int64(rp.Offset)
			return out, nil
		}
	}
	return out, fmt.Errorf("workload: list-offsets response without %s-%d", r.w.cfg.Topic, partition)
}

// errCompressed means a batch was compressed; the workload produces
// uncompressed batches, so a compressed one is not from it.
var errCompressed = errors.New("workload: compressed batch in an explicit fetch")

// decodeBatches decodes the records of uncompressed record batches,
// skipping control batches. A truncated last batch (the broker cuts at
// PartitionMaxBytes) is ignored, as clients do.
func decodeBatches(b []byte) ([]history.Record, error) {
	var out []history.Record
	for len(b) >= 12 {
		length := int(int32(binary.BigEndian.Uint32(b[8:12])))
		if length < 0 || 12+length > len(b) {
			break
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b[:12+length]); err != nil {
			return out, fmt.Errorf("workload: record batch: %w", err)
		}
		b = b[12+length:]
		if rb.Attributes&0x20 != 0 { // control batch (transaction markers)
			continue
		}
		if rb.Attributes&0x07 != 0 {
			return out, errCompressed
		}
		recs := rb.Records
		for range rb.NumRecords {
			n, sz := binary.Varint(recs)
			if sz <= 0 || n < 0 || sz+int(n) > len(recs) {
				return out, fmt.Errorf("workload: record length in batch at %d", rb.FirstOffset)
			}
			var rec kmsg.Record
			if err := rec.ReadFrom(recs[:sz+int(n)]); err != nil {
				return out, fmt.Errorf("workload: record: %w", err)
			}
			recs = recs[sz+int(n):]
			out = append(out, history.Record{Offset: rb.FirstOffset + int64(rec.OffsetDelta), Value: string(rec.Value)})
		}
	}
	return out, nil
}

// read is reader i's loop: paced explicit reads of random partitions,
// alternating at random between a fetch near the known end of the log and
// a list-offsets.
func (w *Workload) read(ctx context.Context, i int) {
	rng := seed.Rand(w.cfg.Seed, fmt.Sprintf("reader-%d", i))
	pace := newPacer(w.cfg.ReadRatePerSec / float64(w.cfg.Readers))
	log := w.cfg.logger().With("client", fmt.Sprintf("reader-%d", i))
	r, err := w.newRawReader()
	if err != nil {
		log.Error("start reader", "err", err)
		return
	}
	defer r.close()
	process := w.newProcess()
	known := make([]int64, w.cfg.Partitions) // highest high watermark seen
	for pace.wait(ctx) {
		part := int32(rng.IntN(w.cfg.Partitions))
		if rng.IntN(2) == 0 {
			w.recordListOffsets(ctx, r, process, part, known)
			continue
		}
		off := known[part] - int64(rng.IntN(20))
		w.recordFetch(ctx, r, process, part, max(off, 0), known)
	}
}

func (w *Workload) recordFetch(ctx context.Context, r *rawReader, process int, part int32, off int64, known []int64) *history.Fetch {
	inv := &history.Fetch{Topic: w.cfg.Topic, Partition: part, Offset: off}
	_, err := w.rec.Invoke(process, history.FFetch, inv)
	w.noteRecordErr(err)
	rctx, cancel := context.WithTimeout(ctx, w.cfg.ReadTimeout)
	res, err := r.fetch(rctx, part, off)
	cancel()
	if err != nil {
		// A read changes nothing: whatever went wrong, it had no effect.
		_, err = w.rec.Fail(process, inv, err)
	} else {
		if known != nil && *res.HighWatermark > known[part] {
			known[part] = *res.HighWatermark
		}
		_, err = w.rec.Ok(process, res)
	}
	w.noteRecordErr(err)
	return res
}

func (w *Workload) recordListOffsets(ctx context.Context, r *rawReader, process int, part int32, known []int64) (*history.ListOffsets, error) {
	inv := &history.ListOffsets{Topic: w.cfg.Topic, Partition: part}
	_, err := w.rec.Invoke(process, history.FListOffsets, inv)
	w.noteRecordErr(err)
	rctx, cancel := context.WithTimeout(ctx, w.cfg.ReadTimeout)
	res, lerr := r.listOffsets(rctx, part)
	cancel()
	if lerr != nil {
		_, err = w.rec.Fail(process, inv, lerr)
	} else {
		if known != nil && *res.HighWatermark > known[part] {
			known[part] = *res.HighWatermark
		}
		_, err = w.rec.Ok(process, res)
	}
	w.noteRecordErr(err)
	return res, lerr
}

// sleepCtx waits d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
