package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/history"
)

// Sentinel errors of the phases after the workload.
var (
	// ErrNotConverged means the recovery phase ran out of time: some
	// partition had no leader or took no write.
	ErrNotConverged = errors.New("workload: cluster did not converge")
	// ErrDrainIncomplete means some partition could not be read to its
	// end; the history then has no "done" phase.
	ErrDrainIncomplete = errors.New("workload: drain incomplete")
)

// retryPause spaces attempts of the recovery and drain loops.
const retryPause = 250 * time.Millisecond

// Recover records phase "recovery" and waits, until ctx ends, for every
// partition to have a leader and take one recorded send (acknowledged).
func (w *Workload) Recover(ctx context.Context) error {
	_, err := w.rec.Phase(history.PhaseRecovery, "every partition has a leader and takes a write")
	w.noteRecordErr(err)
	r, err := w.newRawReader()
	if err != nil {
		return err
	}
	defer r.close()
	errs := make([]error, w.cfg.Partitions)
	var wg sync.WaitGroup
	for part := range w.cfg.Partitions {
		wg.Go(func() { errs[part] = w.recoverPartition(ctx, r, int32(part)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrNotConverged, err)
	}
	return w.recordError()
}

func (w *Workload) recoverPartition(ctx context.Context, r *rawReader, part int32) error {
	var last error
	for {
		if _, err := r.leaderOf(ctx, part); err != nil {
			last = err
		} else {
			p, err := w.newProducer()
			if err != nil {
				return err
			}
			typ := p.send(ctx, w.cfg.Topic, part)
			p.close()
			if typ == history.TypeOK {
				return nil
			}
			last = fmt.Errorf("send to %s-%d ended %s", w.cfg.Topic, part, typ)
		}
		if !sleepCtx(ctx, retryPause) {
			return fmt.Errorf("%s-%d: %w", w.cfg.Topic, part, last)
		}
	}
}

// Drain records phase "drain", reads every partition from offset 0 to its
// high watermark with fresh clients (recorded as an assign and polls per
// partition), and records phase "done" only when every partition was read
// to its end. Run it after Recover, with no other client writing.
func (w *Workload) Drain(ctx context.Context) error {
	_, err := w.rec.Phase(history.PhaseDrain, "read every partition from the start to its high watermark")
	w.noteRecordErr(err)
	r, err := w.newRawReader()
	if err != nil {
		return err
	}
	defer r.close()
	errs := make([]error, w.cfg.Partitions)
	var wg sync.WaitGroup
	for part := range w.cfg.Partitions {
		wg.Go(func() { errs[part] = w.drainPartition(ctx, r, int32(part)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrDrainIncomplete, err)
	}
	if err := w.recordError(); err != nil {
		return err
	}
	_, err = w.rec.Phase(history.PhaseDone, "")
	return err
}

func (w *Workload) drainPartition(ctx context.Context, r *rawReader, part int32) error {
	process := w.newProcess()
	var end int64
	for {
		res, err := w.recordListOffsets(ctx, r, process, part, nil)
		if err == nil {
			end = *res.HighWatermark
			break
		}
		if !sleepCtx(ctx, retryPause) {
			return fmt.Errorf("%s-%d: high watermark: %w", w.cfg.Topic, part, err)
		}
	}
	if end == 0 {
		return nil
	}
	tp := history.TopicPartition{Topic: w.cfg.Topic, Partition: part}
	assign := &history.Assign{Partitions: []history.TopicPartition{tp}, SeekToBeginning: true}
	_, err := w.rec.Invoke(process, history.FAssign, assign)
	w.noteRecordErr(err)
	cl, err := kgo.NewClient(append(w.consumerOpts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.cfg.Topic: {part: kgo.NewOffset().At(0)}}))...)
	if err != nil {
		_, rerr := w.rec.Fail(process, assign, err)
		w.noteRecordErr(rerr)
		return err
	}
	defer cl.Close()
	_, err = w.rec.Ok(process, assign)
	w.noteRecordErr(err)
	next := int64(0)
	for next < end {
		if ctx.Err() != nil {
			return fmt.Errorf("%s-%d: read to %d of %d: %w", w.cfg.Topic, part, next, end, ctx.Err())
		}
		_, err := w.rec.Invoke(process, history.FPoll, &history.Poll{})
		w.noteRecordErr(err)
		pctx, cancel := context.WithTimeout(ctx, w.cfg.PollTimeout)
		fs := cl.PollRecords(pctx, 1000)
		cancel()
		v := &history.Poll{Partitions: pollRecords(fs)}
		for _, pr := range v.Partitions {
			if n := len(pr.Records); n > 0 {
				next = max(next, pr.Records[n-1].Offset+1)
			}
		}
		_, err = w.rec.Ok(process, v)
		w.noteRecordErr(err)
	}
	return nil
}
