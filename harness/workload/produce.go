package workload

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/history"
	"github.com/highwater-io/highwater/internal/seed"
)

// producerOpts are the client options of every recorded producer:
// idempotent (franz-go's default), acks=all (or acks=1 without
// idempotence when the config asks), one uncompressed record per request
// as soon as it is handed over, each send bounded by SendTimeout.
func (w *Workload) producerOpts() []kgo.Opt {
	acks := []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}
	if w.cfg.leaderAcks() {
		acks = []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}
	}
	return append(acks,
		kgo.SeedBrokers(w.cfg.seeds()...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(w.cfg.SendTimeout),
		kgo.ProduceRequestTimeout(w.cfg.SendTimeout),
		kgo.MaxProduceRequestsInflightPerBroker(1),
	)
}

// producer is one recording producer process.
type producer struct {
	w       *Workload
	process int
	cl      *kgo.Client
	n       int
	pad     []byte
	// abandoned: a send was given up on (produceBounded); the client may
	// still hold it.
	abandoned bool
}

func (w *Workload) newProducer() (*producer, error) {
	cl, err := kgo.NewClient(w.producerOpts()...)
	if err != nil {
		return nil, fmt.Errorf("workload: producer: %w", err)
	}
	p := &producer{w: w, process: w.newProcess(), cl: cl}
	if w.cfg.RecordBytes > 0 {
		p.pad = []byte(strings.Repeat("x", w.cfg.RecordBytes))
	}
	return p, nil
}

// send records one send of a new unique value to partition and returns the
// completion type it was recorded with.
func (p *producer) send(ctx context.Context, topic string, partition int32) history.Type {
	value := fmt.Sprintf("p%d-%06d", p.process, p.n)
	p.n++
	sr := history.SendRecord{Topic: topic, Partition: partition, Value: value}
	_, err := p.w.rec.Invoke(p.process, history.FSend, &history.Send{Records: []history.SendRecord{sr}})
	p.w.noteRecordErr(err)
	r := &kgo.Record{Topic: topic, Partition: partition, Value: []byte(value)}
	if p.pad != nil {
		r.Headers = []kgo.RecordHeader{{Key: "pad", Value: p.pad}}
	}
	err = p.produceBounded(ctx, r)
	typ := Classify(err)
	switch typ {
	case history.TypeOK:
		sr.Offset = history.Int64(r.Offset)
		_, err = p.w.rec.Ok(p.process, &history.Send{Records: []history.SendRecord{sr}})
	case history.TypeFail:
		_, err = p.w.rec.Fail(p.process, &history.Send{Records: []history.SendRecord{sr}}, err)
	default:
		_, err = p.w.rec.Info(p.process, &history.Send{Records: []history.SendRecord{sr}}, err)
	}
	p.w.noteRecordErr(err)
	return typ
}

// ErrSendAbandoned is a send the producer stopped waiting for: neither
// the broker nor the client settled it within SendTimeout plus
// sendAbandonGrace. Its outcome is unknown (recorded as info) and the
// client is replaced.
var ErrSendAbandoned = errors.New("workload: send abandoned after its timeout")

// sendAbandonGrace is how long past SendTimeout a send may take before the
// producer gives up on it: franz-go's own timeouts (RecordDeliveryTimeout,
// ProduceRequestTimeout plus its request overhead) normally settle it
// first.
const sendAbandonGrace = 2 * time.Second

// produceBounded sends r and waits for its outcome at most SendTimeout plus
// the grace, whatever the client does. ProduceSync alone can wait forever:
// an idempotent producer neither times out nor cancels a record whose
// request is in flight (failing it would break its sequence numbers), so a
// broker that never answers held a send for 5+ minutes and the run's
// context could not end it. The per-send context bounds the record while
// it is buffered; the timer bounds the rest.
func (p *producer) produceBounded(ctx context.Context, r *kgo.Record) error {
	sctx, cancel := context.WithTimeout(ctx, p.w.cfg.SendTimeout)
	defer cancel()
	done := make(chan error, 1)
	p.cl.Produce(sctx, r, func(_ *kgo.Record, err error) { done <- err })
	timer := time.NewTimer(p.w.cfg.SendTimeout + sendAbandonGrace)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		p.abandoned = true
		return ErrSendAbandoned
	}
}

func (p *producer) close() {
	if p == nil || p.cl == nil {
		return
	}
	if p.abandoned {
		// Close waits for nothing the broker owes, but keep a stuck
		// client from holding up the workload all the same.
		go p.cl.Close()
		return
	}
	p.cl.Close()
}

// produce is producer slot i's loop: paced sends to partitions drawn from
// its own random stream; after an info the producer is replaced by a fresh
// client and process (see the package doc).
func (w *Workload) produce(ctx context.Context, i int) {
	rng := seed.Rand(w.cfg.Seed, fmt.Sprintf("producer-%d", i))
	pace := newPacer(w.cfg.SendRatePerSec / float64(w.cfg.Producers))
	log := w.cfg.logger().With("client", fmt.Sprintf("producer-%d", i))
	p, err := w.newProducer()
	if err != nil {
		log.Error("start producer", "err", err)
		return
	}
	defer func() { p.close() }()
	for pace.wait(ctx) {
		part := int32(rng.IntN(w.cfg.Partitions))
		if p.send(ctx, w.cfg.Topic, part) != history.TypeInfo {
			continue
		}
		p.close()
		if p, err = w.newProducer(); err != nil {
			// Only bad options fail here, and they worked a moment ago.
			log.Error("restart producer", "err", err)
			return
		}
	}
}
