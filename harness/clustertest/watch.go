package clustertest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/cluster"
)

// Watcher consumes one partition while faults happen, recording every
// record it is served with the high watermark of that fetch: anything a
// consumer saw must survive (consumers never read beyond the high
// watermark, and everything below it is committed).
type Watcher struct {
	cl   *kgo.Client
	stop context.CancelFunc
	done chan struct{}

	mu   sync.Mutex
	seen []Read
	errs []error
}

// StartWatcher starts consuming partition p of topic from its start.
// opts are added to the consumer's client (kgo.Rack, hooks, ...).
func StartWatcher(ctx context.Context, c cluster.Cluster, topic string, p int32, opts ...kgo.Opt) (*Watcher, error) {
	all := append([]kgo.Opt{
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, opts...)
	cl, err := NewClient(c, all...)
	if err != nil {
		return nil, fmt.Errorf("clustertest: watcher: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &Watcher{cl: cl, stop: cancel, done: make(chan struct{})}
	go w.run(runCtx)
	return w, nil
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	for ctx.Err() == nil {
		fs := w.cl.PollFetches(ctx)
		w.mu.Lock()
		fs.EachError(func(_ string, _ int32, err error) {
			if ctx.Err() == nil && len(w.errs) < 100 {
				w.errs = append(w.errs, err)
			}
		})
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			for _, r := range fp.Records {
				w.seen = append(w.seen, Read{Offset: r.Offset, Value: string(r.Value), HW: fp.HighWatermark})
			}
		})
		w.mu.Unlock()
	}
}

// next is one past the highest offset read so far.
func (w *Watcher) next() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := int64(0)
	for _, r := range w.seen {
		n = max(n, r.Offset+1)
	}
	return n
}

// Seen returns a copy of what was read so far.
func (w *Watcher) Seen() []Read {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Read(nil), w.seen...)
}

// Stop stops consuming and returns what was read and the fetch errors
// the client surfaced (retriable ones during a failover are expected).
func (w *Watcher) Stop() ([]Read, []error) {
	w.stop()
	<-w.done
	w.cl.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Read(nil), w.seen...), append([]error(nil), w.errs...)
}

// listEnd returns every partition's high watermark (ListOffsets latest).
func listEnd(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	lo, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	var firstErr error
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("partition %d: %w", o.Partition, o.Err)
			}
			return
		}
		out[o.Partition] = o.Offset
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}
