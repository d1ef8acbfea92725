package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/history"
	"github.com/highwater-io/highwater/internal/seed"
)

// TxnOptions are the transactional workloads' own knobs; the shared ones
// (bootstrap, topic, partitions, producers as transactional producers,
// SendRatePerSec as transactions per second, duration, timeouts) come
// from Config.
type TxnOptions struct {
	// MaxPartitionsPerTxn bounds how many partitions one transaction
	// writes (at least 1, drawn from the seed).
	MaxPartitionsPerTxn int
	// RecordsPerPartition is how many records a transaction writes to
	// each of its partitions.
	RecordsPerPartition int
	// AbortProbability is the chance a transaction asks to abort.
	AbortProbability float64
	// TxnTimeout is the producers' transaction.timeout.ms: how soon the
	// coordinator aborts a transaction a crashed client left open.
	TxnTimeout time.Duration
	// ReadInTxn makes each transaction poll the topic (read_committed)
	// before it sends, recording what it read: the write-read edges of
	// the cycle checks.
	ReadInTxn bool
	// CommittedConsumers and UncommittedConsumers are consumers reading
	// every partition with read_committed and read_uncommitted.
	CommittedConsumers, UncommittedConsumers int
	// Zombies is how many zombie loops run besides the producers: rounds
	// in which a fenced producer writes on (txn_zombie.go).
	Zombies int
}

// DefaultTxnOptions are small transactions, one in five aborted.
func DefaultTxnOptions() TxnOptions {
	return TxnOptions{MaxPartitionsPerTxn: 3, RecordsPerPartition: 2, AbortProbability: 0.2,
		TxnTimeout: 10 * time.Second, ReadInTxn: true, CommittedConsumers: 1, UncommittedConsumers: 1}
}

// Validate reports the first problem, wrapping ErrBadConfig.
func (o TxnOptions) Validate() error {
	switch {
	case o.MaxPartitionsPerTxn < 1 || o.RecordsPerPartition < 1:
		return fmt.Errorf("%w: transactions need at least one partition and record", ErrBadConfig)
	case o.AbortProbability < 0 || o.AbortProbability > 1:
		return fmt.Errorf("%w: abort probability %v", ErrBadConfig, o.AbortProbability)
	case o.TxnTimeout < time.Second:
		return fmt.Errorf("%w: transaction timeout %v (Kafka's minimum is 1s)", ErrBadConfig, o.TxnTimeout)
	case o.CommittedConsumers < 0 || o.UncommittedConsumers < 0 || o.Zombies < 0:
		return fmt.Errorf("%w: negative consumer count", ErrBadConfig)
	}
	return nil
}

// TxnWorkload is the transactional workload: producers with a
// transactional id each write unique values to several partitions per
// transaction and commit or abort as the seed says; consumers read with
// read_committed and read_uncommitted. See the package doc.
type TxnWorkload struct {
	*Workload
	opts TxnOptions
	// markers are the offsets of the recovery phase's plain sends, which
	// the drain reads up to (read_committed: past every transaction).
	mu      sync.Mutex
	markers map[string]map[int32]int64
}

// NewTxn checks cfg and opts and returns a transactional workload.
func NewTxn(cfg Config, rec Recorder, opts TxnOptions) (*TxnWorkload, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	w, err := New(cfg, rec)
	if err != nil {
		return nil, err
	}
	return &TxnWorkload{Workload: w, opts: opts, markers: map[string]map[int32]int64{}}, nil
}

// elapsed reads the recorder's clock when it has one (history.Writer
// does), so Txn.EndTime compares with event times; -1 otherwise.
func elapsed(rec Recorder) int64 {
	if c, ok := rec.(interface{ Elapsed() int64 }); ok {
		return c.Elapsed()
	}
	return -1
}

func endTime(rec Recorder) *int64 {
	if t := elapsed(rec); t >= 0 {
		return &t
	}
	return nil
}

// txnProducerOpts are a transactional producer's options: acks=all,
// manual partitioning, one request in flight, and the transaction timeout.
func (w *Workload) txnProducerOpts(tid string, timeout time.Duration) []kgo.Opt {
	return append(w.producerOpts(),
		kgo.TransactionalID(tid), kgo.ClientID(tid), // the client id names the producer to per-client nemesis faults
		kgo.TransactionTimeout(timeout),
	)
}

// Run runs the transactional producers and the consumers for the
// configured duration.
func (t *TxnWorkload) Run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for i := range t.cfg.Producers {
		wg.Go(func() { t.produceTxns(ctx, i) })
	}
	for i := range t.opts.Zombies {
		wg.Go(func() { t.zombies(ctx, i) })
	}
	for i := range t.opts.CommittedConsumers {
		wg.Go(func() { t.consumeIso(ctx, fmt.Sprintf("rc-consumer-%d", i), history.ReadCommitted, t.cfg.Topic) })
	}
	for i := range t.opts.UncommittedConsumers {
		wg.Go(func() { t.consumeIso(ctx, fmt.Sprintf("ru-consumer-%d", i), history.ReadUncommitted, t.cfg.Topic) })
	}
	wg.Wait()
	return t.recordError()
}

// txnProducer is one transactional client under one process id.
type txnProducer struct {
	t       *TxnWorkload
	tid     string
	process int
	cl      *kgo.Client
	n       int
}

func (t *TxnWorkload) newTxnProducer(tid string) (*txnProducer, error) {
	opts := t.txnProducerOpts(tid, t.opts.TxnTimeout)
	if t.opts.ReadInTxn {
		opts = append(opts,
			kgo.ConsumeTopics(t.cfg.Topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.FetchMaxWait(t.cfg.PollTimeout/2))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("workload: transactional producer: %w", err)
	}
	return &txnProducer{t: t, tid: tid, process: t.newProcess(), cl: cl}, nil
}

// produceTxns is producer slot i's loop. After an info the client is
// closed and a new one starts under the same transactional id (fencing the
// old one and aborting what it left open) and a new process id.
func (t *TxnWorkload) produceTxns(ctx context.Context, i int) {
	tid := fmt.Sprintf("highwater-txn-%d", i)
	rng := seed.Rand(t.cfg.Seed, "txn-producer-"+tid)
	pace := newPacer(t.cfg.SendRatePerSec / float64(t.cfg.Producers))
	log := t.cfg.logger().With("client", tid)
	p, err := t.newTxnProducer(tid)
	if err != nil {
		log.Error("start producer", "err", err)
		return
	}
	defer func() { p.cl.Close() }()
	for pace.wait(ctx) {
		if p.transact(ctx, rng) != history.TypeInfo {
			continue
		}
		p.cl.Close()
		if p, err = t.newTxnProducer(tid); err != nil {
			log.Error("restart producer", "err", err)
			return
		}
	}
}

// plan draws one transaction: its partitions, values and end.
func (p *txnProducer) plan(rng *rand.Rand) *history.Txn {
	cfg, o := p.t.cfg, p.t.opts
	k := 1 + rng.IntN(min(o.MaxPartitionsPerTxn, cfg.Partitions))
	x := &history.Txn{TransactionalID: p.tid, Commit: rng.Float64() >= o.AbortProbability}
	for _, part := range rng.Perm(cfg.Partitions)[:k] {
		for range o.RecordsPerPartition {
			x.Sends = append(x.Sends, history.SendRecord{Topic: cfg.Topic, Partition: int32(part),
				Value: fmt.Sprintf("t%d-%06d", p.process, p.n)})
			p.n++
		}
	}
	return x
}

// transact records one transaction and returns its completion type.
func (p *txnProducer) transact(ctx context.Context, rng *rand.Rand) history.Type {
	w := p.t.Workload
	x := p.plan(rng)
	_, err := w.rec.Invoke(p.process, history.FTxn, x)
	w.noteRecordErr(err)
	done := *x
	done.Sends = append([]history.SendRecord(nil), x.Sends...)
	if err := p.cl.BeginTransaction(); err != nil {
		return p.finish(&done, history.TypeInfo, err)
	}
	if p.t.opts.ReadInTxn {
		pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		done.Reads = pollRecords(p.cl.PollRecords(pctx, 200))
		cancel()
	}
	rs := make([]*kgo.Record, len(done.Sends))
	for i, s := range done.Sends {
		rs[i] = &kgo.Record{Topic: s.Topic, Partition: s.Partition, Value: []byte(s.Value)}
	}
	perr := p.cl.ProduceSync(ctx, rs...).FirstErr()
	for i, r := range rs {
		if r.ProducerID >= 0 && done.ProducerID == nil && perr == nil {
			done.ProducerID, done.ProducerEpoch = history.Int64(r.ProducerID), history.Int16(r.ProducerEpoch)
		}
		if perr == nil {
			done.Sends[i].Offset = history.Int64(r.Offset)
		}
	}
	if perr != nil {
		done.Commit = false // a transaction with a failed send can only abort
	}
	done.EndTime = endTime(w.rec)
	// Not the workload's ctx: canceling EndTxn mid-flight leaves the
	// outcome unknown for no reason.
	ectx, cancel := context.WithTimeout(context.Background(), 2*w.cfg.SendTimeout)
	eerr := p.cl.EndTransaction(ectx, kgo.TransactionEndTry(done.Commit))
	cancel()
	switch {
	case eerr != nil:
		return p.finish(&done, history.TypeInfo, errors.Join(perr, eerr))
	case perr != nil:
		return p.finish(&done, history.TypeFail, perr) // aborted, confirmed
	}
	return p.finish(&done, history.TypeOK, nil)
}

func (p *txnProducer) finish(done *history.Txn, typ history.Type, cause error) history.Type {
	w := p.t.Workload
	var err error
	switch typ {
	case history.TypeOK:
		_, err = w.rec.Ok(p.process, done)
	case history.TypeFail:
		_, err = w.rec.Fail(p.process, done, cause)
	default:
		_, err = w.rec.Info(p.process, done, cause)
	}
	w.noteRecordErr(err)
	return typ
}

// consumeIso is one consumer reading every partition of topic from the
// start at the given isolation level, recording each poll, until ctx ends.
func (w *Workload) consumeIso(ctx context.Context, name, isolation, topic string) {
	process := w.newProcess()
	offsets := map[int32]kgo.Offset{}
	var tps []history.TopicPartition
	for p := range w.cfg.Partitions {
		offsets[int32(p)] = kgo.NewOffset().AtStart()
		tps = append(tps, history.TopicPartition{Topic: topic, Partition: int32(p)})
	}
	assign := &history.Assign{Partitions: tps, SeekToBeginning: true}
	_, err := w.rec.Invoke(process, history.FAssign, assign)
	w.noteRecordErr(err)
	opts := append(w.consumerOpts(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if isolation == history.ReadCommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		_, rerr := w.rec.Fail(process, assign, err)
		w.noteRecordErr(rerr)
		w.cfg.logger().Error("start consumer", "client", name, "err", err)
		return
	}
	defer cl.Close()
	_, err = w.rec.Ok(process, assign)
	w.noteRecordErr(err)
	for ctx.Err() == nil {
		_, err := w.rec.Invoke(process, history.FPoll, &history.Poll{Isolation: isolation})
		w.noteRecordErr(err)
		pctx, cancel := context.WithTimeout(ctx, w.cfg.PollTimeout)
		fs := cl.PollRecords(pctx, 500)
		cancel()
		_, err = w.rec.Ok(process, &history.Poll{Isolation: isolation, Partitions: pollRecords(fs)})
		w.noteRecordErr(err)
	}
}

// EnsureTopic creates the topic and then warms the transaction
// coordinator up: Kafka creates __transaction_state (50 partitions) on the
// first InitProducerId, which on a small machine takes seconds that would
// otherwise be charged to the workload phase as a stall.
func (t *TxnWorkload) EnsureTopic(ctx context.Context) error {
	if err := t.Workload.EnsureTopic(ctx); err != nil {
		return err
	}
	return t.warmUp(ctx)
}

func (t *TxnWorkload) warmUp(ctx context.Context) error {
	var last error
	for {
		cl, err := kgo.NewClient(t.txnProducerOpts("highwater-warmup", t.opts.TxnTimeout)...)
		if err != nil {
			return fmt.Errorf("workload: warm-up: %w", err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, _, last = cl.ProducerID(wctx)
		cancel()
		cl.Close()
		if last == nil {
			return nil
		}
		if !sleepCtx(ctx, retryPause) {
			return fmt.Errorf("workload: transaction coordinator not ready: %w (last: %v)", ctx.Err(), last)
		}
	}
}
