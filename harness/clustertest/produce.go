package clustertest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/cluster"
)

// Ack is one acknowledged record.
type Ack struct {
	Seq    int64
	Offset int64
	At     time.Time
}

// ProducerConfig shapes a Producer.
type ProducerConfig struct {
	Topic     string
	Partition int32
	// Prefix starts every value ("<prefix>-<seq>"); distinct per producer.
	Prefix string
	// Interval paces sends (one record per Interval); 0 means 2 ms. Pacing
	// keeps acknowledgements continuous without a tight loop starving the
	// brokers of CPU.
	Interval time.Duration
	// InFlight bounds records sent but not yet settled; 0 means 64.
	InFlight int
	// DeliveryTimeout fails a record not acknowledged in this long; 0
	// means 2 minutes (longer than any failover the checks expect).
	DeliveryTimeout time.Duration
}

// Producer sends records to one partition with acks=all and the
// idempotent producer, without pause, timestamping every settled record.
type Producer struct {
	cfg  ProducerConfig
	cl   *kgo.Client
	stop context.CancelFunc
	done chan struct{}

	mu   sync.Mutex
	acks []Ack
	errs []error
	sent int64
}

// StartProducer starts a Producer against c.
func StartProducer(ctx context.Context, c cluster.Cluster, cfg ProducerConfig) (*Producer, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Millisecond
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = 64
	}
	if cfg.DeliveryTimeout <= 0 {
		cfg.DeliveryTimeout = 2 * time.Minute
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "r"
	}
	cl, err := NewClient(c,
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout),
		kgo.ProducerLinger(0),
	)
	if err != nil {
		return nil, fmt.Errorf("clustertest: producer: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &Producer{cfg: cfg, cl: cl, stop: cancel, done: make(chan struct{})}
	go p.run(runCtx)
	return p, nil
}

func (p *Producer) run(ctx context.Context) {
	defer close(p.done)
	slots := make(chan struct{}, p.cfg.InFlight)
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	for seq := int64(0); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case <-ctx.Done():
			return
		case slots <- struct{}{}:
		}
		p.mu.Lock()
		p.sent++
		p.mu.Unlock()
		r := &kgo.Record{Partition: p.cfg.Partition, Value: []byte(p.cfg.Prefix + "-" + strconv.FormatInt(seq, 10))}
		p.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
			at := time.Now()
			p.mu.Lock()
			if err != nil {
				p.errs = append(p.errs, fmt.Errorf("seq %d: %w", seq, err))
			} else {
				p.acks = append(p.acks, Ack{Seq: seq, Offset: r.Offset, At: at})
			}
			p.mu.Unlock()
			<-slots
		})
	}
}

// Acks returns a copy of the acknowledgements so far, in settle order.
func (p *Producer) Acks() []Ack {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Ack(nil), p.acks...)
}

// AckedSince counts acknowledgements settled after t.
func (p *Producer) AckedSince(t time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for i := len(p.acks) - 1; i >= 0 && p.acks[i].At.After(t); i-- {
		n++
	}
	return n
}

// Stop stops sending, waits (bounded by ctx) for every sent record to
// settle, and returns the acknowledgements and the failures.
func (p *Producer) Stop(ctx context.Context) (acks []Ack, errs []error, sent int64) {
	p.stop()
	<-p.done
	flushErr := p.cl.Flush(ctx)
	p.cl.Close() // fails whatever is still buffered after a cut-short flush
	p.mu.Lock()
	defer p.mu.Unlock()
	errs = append([]error(nil), p.errs...)
	if flushErr != nil {
		errs = append(errs, fmt.Errorf("flush: %w", flushErr))
	}
	return append([]Ack(nil), p.acks...), errs, p.sent
}

// Read is one record read back with the high watermark its fetch reported.
type Read struct {
	Offset int64
	Value  string
	HW     int64
}

// ReadBack reads partition p of topic from its start to the high
// watermark ListOffsets reports when it begins.
func ReadBack(ctx context.Context, c cluster.Cluster, topic string, p int32) ([]Read, error) {
	cl, err := NewClient(c)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var end int64
	err = Until(ctx, fmt.Sprintf("end offset of %s-%d", topic, p), func(ctx context.Context) error {
		end, err = endOffset(ctx, cl, topic, p)
		return err
	})
	if err != nil || end == 0 {
		return nil, err
	}
	rc, err := NewClient(c, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {p: kgo.NewOffset().AtStart()},
	}), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var out []Read
	next := int64(0)
	for next < end {
		fs := rc.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, fmt.Errorf("clustertest: read %s-%d: %d records, at offset %d of %d: %w", topic, p, len(out), next, end, ctx.Err())
		}
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			for _, r := range fp.Records {
				out = append(out, Read{Offset: r.Offset, Value: string(r.Value), HW: fp.HighWatermark})
				next = r.Offset + 1
			}
		})
	}
	return out, nil
}

// endOffset is partition p's high watermark as ListOffsets (latest) says.
func endOffset(ctx context.Context, cl *kgo.Client, topic string, p int32) (int64, error) {
	offs, err := listEnd(ctx, cl, topic)
	if err != nil {
		return 0, err
	}
	o, ok := offs[p]
	if !ok {
		return 0, fmt.Errorf("partition %d not listed", p)
	}
	return o, nil
}

// CatchUp waits until w has read partition p of topic up to its current
// end offset: a consumer keeps up through the faults once they are healed.
func (w *Watcher) CatchUp(ctx context.Context, c cluster.Cluster, topic string, p int32) error {
	cl, err := NewClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	var end int64
	if err := Until(ctx, fmt.Sprintf("end offset of %s-%d", topic, p), func(ctx context.Context) error {
		end, err = endOffset(ctx, cl, topic, p)
		return err
	}); err != nil {
		return err
	}
	return Until(ctx, fmt.Sprintf("consumer of %s-%d at the end offset %d", topic, p, end), func(context.Context) error {
		next := w.next()
		if next < end {
			return fmt.Errorf("consumed up to offset %d", next)
		}
		return nil
	})
}

// Check verifies a partition read back after acks were given: every
// acknowledged record is at its acknowledged offset with its value, values
// appear in send order with no duplicates, and every record a concurrent
// consumer saw (seen) is still there at the same offset: a consumer never
// reads beyond the high watermark, so nothing it saw may be truncated away.
// prefix is the producer's value prefix.
//
// The high watermark a fetch response reports is not compared with the
// offsets it carries: Kafka takes that figure before reading the log, and
// the high watermark may advance in between (often on a follower serving a
// KIP-392 consumer), so a record at or above the reported figure is not an
// anomaly. AboveReportedHW counts them for information.
func Check(prefix string, acks []Ack, reads, seen []Read) error {
	var errs []error
	add := func(format string, args ...any) {
		if len(errs) < 20 {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	at := make(map[int64]string, len(reads))
	lastSeq := int64(-1)
	for _, r := range reads {
		at[r.Offset] = r.Value
		seq, ok := seqOf(prefix, r.Value)
		if !ok {
			continue
		}
		if seq <= lastSeq {
			add("offset %d holds seq %d after seq %d: reordered or duplicated", r.Offset, seq, lastSeq)
		}
		lastSeq = max(lastSeq, seq)
	}
	for _, a := range acks {
		want := prefix + "-" + strconv.FormatInt(a.Seq, 10)
		if got, ok := at[a.Offset]; !ok {
			add("acknowledged seq %d at offset %d: lost (not read back)", a.Seq, a.Offset)
		} else if got != want {
			add("acknowledged seq %d at offset %d: offset holds %q instead", a.Seq, a.Offset, got)
		}
	}
	for _, s := range seen {
		if got, ok := at[s.Offset]; !ok || got != s.Value {
			add("a consumer read %q at offset %d, but the final log holds %q there", s.Value, s.Offset, got)
		}
	}
	return errors.Join(errs...)
}

// AboveReportedHW counts records served in a fetch whose reported high
// watermark was at or below their offset (see Check).
func AboveReportedHW(reads []Read) int {
	n := 0
	for _, r := range reads {
		if r.Offset >= r.HW {
			n++
		}
	}
	return n
}

// seqOf parses "<prefix>-<seq>".
func seqOf(prefix, v string) (int64, bool) {
	rest, ok := strings.CutPrefix(v, prefix+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	return n, err == nil
}
