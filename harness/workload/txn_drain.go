package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/history"
)

// Recover records phase "recovery" and, per partition of the workload's
// topic, retries a recorded plain (idempotent, non-transactional) send
// until one is acknowledged. Its offset is the partition's marker: the
// drain reads up to it with read_committed, which reaches it only once
// every transaction before it is resolved.
func (t *TxnWorkload) Recover(ctx context.Context) error {
	return t.recoverTopics(ctx, t.cfg.Topic)
}

func (t *TxnWorkload) recoverTopics(ctx context.Context, topics ...string) error {
	_, err := t.rec.Phase(history.PhaseRecovery, "every partition takes a plain write (the drain's marker)")
	t.noteRecordErr(err)
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, topic := range topics {
		for part := range t.cfg.Partitions {
			wg.Go(func() {
				if err := t.placeMarker(ctx, topic, int32(part)); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrNotConverged, err)
	}
	return t.recordError()
}

func (t *TxnWorkload) placeMarker(ctx context.Context, topic string, part int32) error {
	var last error
	for {
		off, err := t.sendPlain(ctx, topic, part)
		if err == nil {
			t.mu.Lock()
			if t.markers[topic] == nil {
				t.markers[topic] = map[int32]int64{}
			}
			t.markers[topic][part] = off
			t.mu.Unlock()
			return nil
		}
		last = err
		if !sleepCtx(ctx, retryPause) {
			return fmt.Errorf("%s-%d: %w", topic, part, last)
		}
	}
}

// sendPlain records one plain send of a new unique value with a fresh
// producer and returns its acknowledged offset.
func (t *TxnWorkload) sendPlain(ctx context.Context, topic string, part int32) (int64, error) {
	process := t.newProcess()
	sr := history.SendRecord{Topic: topic, Partition: part, Value: fmt.Sprintf("m%d", process)}
	_, err := t.rec.Invoke(process, history.FSend, &history.Send{Records: []history.SendRecord{sr}})
	t.noteRecordErr(err)
	cl, err := kgo.NewClient(t.producerOpts()...)
	if err != nil {
		_, rerr := t.rec.Fail(process, &history.Send{Records: []history.SendRecord{sr}}, err)
		t.noteRecordErr(rerr)
		return 0, err
	}
	defer cl.Close()
	r := &kgo.Record{Topic: topic, Partition: part, Value: []byte(sr.Value)}
	err = cl.ProduceSync(ctx, r).FirstErr()
	switch Classify(err) {
	case history.TypeOK:
		sr.Offset = history.Int64(r.Offset)
		_, rerr := t.rec.Ok(process, &history.Send{Records: []history.SendRecord{sr}})
		t.noteRecordErr(rerr)
		return r.Offset, nil
	case history.TypeFail:
		_, rerr := t.rec.Fail(process, &history.Send{Records: []history.SendRecord{sr}}, err)
		t.noteRecordErr(rerr)
	default:
		_, rerr := t.rec.Info(process, &history.Send{Records: []history.SendRecord{sr}}, err)
		t.noteRecordErr(rerr)
	}
	return 0, err
}

// Drain records phase "drain", reads every partition of the topic with
// read_committed from offset 0 up to its marker, and records "done" only
// when every partition got there. Run it after Recover.
func (t *TxnWorkload) Drain(ctx context.Context) error {
	return t.drainTopics(ctx, t.cfg.Topic)
}

func (t *TxnWorkload) drainTopics(ctx context.Context, topics ...string) error {
	_, err := t.rec.Phase(history.PhaseDrain, "read_committed from the start of every partition to the recovery marker")
	t.noteRecordErr(err)
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, topic := range topics {
		for part := range t.cfg.Partitions {
			wg.Go(func() {
				if err := t.drainTo(ctx, topic, int32(part)); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrDrainIncomplete, err)
	}
	if err := t.recordError(); err != nil {
		return err
	}
	_, err = t.rec.Phase(history.PhaseDone, "")
	return err
}

func (t *TxnWorkload) drainTo(ctx context.Context, topic string, part int32) error {
	t.mu.Lock()
	marker, ok := t.markers[topic][part]
	t.mu.Unlock()
	if !ok {
		return fmt.Errorf("%s-%d: no recovery marker to drain to", topic, part)
	}
	process := t.newProcess()
	tp := history.TopicPartition{Topic: topic, Partition: part}
	assign := &history.Assign{Partitions: []history.TopicPartition{tp}, SeekToBeginning: true}
	_, err := t.rec.Invoke(process, history.FAssign, assign)
	t.noteRecordErr(err)
	cl, err := kgo.NewClient(append(t.consumerOpts(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {part: kgo.NewOffset().At(0)}}))...)
	if err != nil {
		_, rerr := t.rec.Fail(process, assign, err)
		t.noteRecordErr(rerr)
		return err
	}
	defer cl.Close()
	_, err = t.rec.Ok(process, assign)
	t.noteRecordErr(err)
	next := int64(0)
	for next <= marker {
		if ctx.Err() != nil {
			return fmt.Errorf("%s-%d: read to %d of marker %d: %w", topic, part, next, marker, ctx.Err())
		}
		_, err := t.rec.Invoke(process, history.FPoll, &history.Poll{Isolation: history.ReadCommitted})
		t.noteRecordErr(err)
		pctx, cancel := context.WithTimeout(ctx, t.cfg.PollTimeout)
		fs := cl.PollRecords(pctx, 1000)
		cancel()
		v := &history.Poll{Isolation: history.ReadCommitted, Partitions: pollRecords(fs)}
		for _, pr := range v.Partitions {
			if n := len(pr.Records); n > 0 {
				next = max(next, pr.Records[n-1].Offset+1)
			}
		}
		_, err = t.rec.Ok(process, v)
		t.noteRecordErr(err)
	}
	return nil
}
