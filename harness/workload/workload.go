package workload

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/highwater-io/highwater/history"
)

// Recorder is what the workload writes operations to; *history.Writer
// satisfies it.
type Recorder interface {
	Invoke(process int, f history.F, value any) (history.Event, error)
	Ok(process int, value any) (history.Event, error)
	Fail(process int, value any, cause error) (history.Event, error)
	Info(process int, value any, cause error) (history.Event, error)
	Phase(name, description string) (history.Event, error)
}

// Workload is one queue workload over one topic. Process ids are handed
// out by it so producers, consumers, readers, recovery and drain never share
// one.
type Workload struct {
	cfg   Config
	rec   Recorder
	procs atomic.Int64
	// values counts sends per process for unique values.
	recordErr atomic.Pointer[error]
}

// New checks cfg and returns a workload recording into rec.
func New(cfg Config, rec Recorder) (*Workload, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Workload{cfg: cfg, rec: rec}, nil
}

// Config returns the workload's configuration.
func (w *Workload) Config() Config { return w.cfg }

func (w *Workload) newProcess() int { return int(w.procs.Add(1) - 1) }

// noteRecordErr keeps the first error the recorder returned: a history
// that cannot be written makes the run worthless, and Run reports it.
func (w *Workload) noteRecordErr(err error) {
	if err != nil {
		w.recordErr.CompareAndSwap(nil, &err)
	}
}

func (w *Workload) recordError() error {
	if p := w.recordErr.Load(); p != nil {
		return fmt.Errorf("workload: recording: %w", *p)
	}
	return nil
}

// Run runs producers, consumers and readers for cfg.Duration (or until ctx
// ends) and returns once every client has stopped. The error reports only
// what makes the history unusable (it could not be written); broker errors
// are recorded as operations.
func (w *Workload) Run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for i := range w.cfg.Producers {
		wg.Go(func() { w.produce(ctx, i) })
	}
	for i := range w.cfg.AssignConsumers {
		wg.Go(func() { w.consumeAssigned(ctx, i) })
	}
	for i := range w.cfg.GroupConsumers {
		wg.Go(func() { w.consumeGroup(ctx, i) })
	}
	for i := range w.cfg.Readers {
		wg.Go(func() { w.read(ctx, i) })
	}
	wg.Wait()
	return w.recordError()
}

// pacer spaces operations at a fixed interval from the first, without
// bursting to catch up after a long operation (an open-loop catch-up would
// pile sends onto a recovering cluster and measure nothing new).
type pacer struct {
	interval time.Duration
	next     time.Time
}

func newPacer(ratePerSec float64) *pacer {
	return &pacer{interval: time.Duration(float64(time.Second) / ratePerSec)}
}

// wait blocks until the next slot; false when ctx ended first.
func (p *pacer) wait(ctx context.Context) bool {
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	d := p.next.Sub(now)
	p.next = p.next.Add(p.interval)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
