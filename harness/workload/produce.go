package workload

import (
	"context"
	"fmt"
	"strings"

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
	res := p.cl.ProduceSync(ctx, r)
	err = res.FirstErr()
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

func (p *producer) close() {
	if p != nil && p.cl != nil {
		p.cl.Close()
	}
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
