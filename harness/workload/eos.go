package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/history"
)

// EOSWorkload is the consume-transform-produce workload: the input topic
// (Config.Topic) is pre-filled with unique values by recorded plain sends
// in EnsureTopic, before the workload phase; Config.Producers workers, each
// a franz-go GroupTransactSession with its own transactional id in one
// group, poll the input with read_committed
// and write one output per input to the output topic (Topic+"-out"), the
// record key naming the input, with the consumed offsets committed in the
// same transaction. Each transaction is one txn op: the input it read, the
// outputs, the offsets. Drain reads the group's committed offsets back
// (group-offsets op) and both topics with read_committed.
type EOSWorkload struct {
	*TxnWorkload
	out *Workload // the output topic's view (EnsureTopic)
	// Inputs is how many values the input topic is filled with.
	Inputs int
	// MaxPerTxn bounds how many inputs one transaction transforms.
	MaxPerTxn int
	// sessions are the workers' sessions, started by EnsureTopic so the
	// group has formed before the workload phase (and its faults) begins.
	sessions []*kgo.GroupTransactSession
}

// NewEOS returns the eos workload; inputs ≤ 0 sizes the input to the
// configured rate over the duration.
func NewEOS(cfg Config, rec Recorder, opts TxnOptions, inputs int) (*EOSWorkload, error) {
	t, err := NewTxn(cfg, rec, opts)
	if err != nil {
		return nil, err
	}
	if cfg.Group == "" {
		return nil, fmt.Errorf("%w: eos needs a group", ErrBadConfig)
	}
	ocfg := cfg
	ocfg.Topic = cfg.Topic + "-out"
	out, err := New(ocfg, rec)
	if err != nil {
		return nil, err
	}
	if inputs <= 0 {
		inputs = min(max(int(cfg.SendRatePerSec*cfg.Duration.Seconds()), 100), 20000)
	}
	return &EOSWorkload{TxnWorkload: t, out: out, Inputs: inputs, MaxPerTxn: 10}, nil
}

// OutputTopic is where transformed values go.
func (e *EOSWorkload) OutputTopic() string { return e.out.cfg.Topic }

// EnsureTopic creates both topics and warms the transaction coordinator
// up.
func (e *EOSWorkload) EnsureTopic(ctx context.Context) error {
	if err := e.Workload.EnsureTopic(ctx); err != nil {
		return err
	}
	if err := e.out.EnsureTopic(ctx); err != nil {
		return err
	}
	if err := e.warmUp(ctx); err != nil {
		return err
	}
	// Filled before the workload phase (and its faults) so the phase's
	// time goes to transforming; the sends are recorded all the same.
	if err := e.fill(ctx); err != nil {
		return err
	}
	return e.startSessions(ctx)
}

// startSessions starts every worker's session and waits, bounded, until
// the group is stable with all of them: joining takes seconds (Kafka's
// initial rebalance delay), which would otherwise open the workload phase
// with a stall. A group that does not settle in time is left to settle
// under the workload.
func (e *EOSWorkload) startSessions(ctx context.Context) error {
	for i := range e.cfg.Producers {
		s, err := e.newSession(fmt.Sprintf("highwater-eos-%d", i))
		if err != nil {
			e.closeSessions()
			return err
		}
		e.sessions = append(e.sessions, s)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.seeds()...))
	if err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		gs, err := adm.DescribeGroups(wctx, e.cfg.Group)
		if g, ok := gs[e.cfg.Group]; err == nil && ok && g.State == "Stable" && len(g.Members) == e.cfg.Producers {
			return nil
		}
		if !sleepCtx(wctx, retryPause) {
			e.cfg.logger().Warn("group not stable before the workload", "group", e.cfg.Group, "err", err)
			return nil
		}
	}
}

func (e *EOSWorkload) closeSessions() {
	for _, s := range e.sessions {
		if s != nil {
			s.Close()
		}
	}
	e.sessions = nil
}

// Run runs the workers until the duration ends (EnsureTopic filled the
// input).
func (e *EOSWorkload) Run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Duration)
	defer cancel()
	sessions := e.sessions
	e.sessions = nil
	var wg sync.WaitGroup
	for i := range e.cfg.Producers {
		var s *kgo.GroupTransactSession
		if i < len(sessions) {
			s = sessions[i]
		}
		wg.Go(func() { e.work(ctx, i, s) })
	}
	wg.Wait()
	return e.recordError()
}

// fill sends the input values round-robin over the partitions in recorded
// batches of up to 100, one plain idempotent producer.
func (e *EOSWorkload) fill(ctx context.Context) error {
	cl, err := kgo.NewClient(e.producerOpts()...)
	if err != nil {
		return fmt.Errorf("workload: eos input: %w", err)
	}
	defer cl.Close()
	process := e.newProcess()
	for start := 0; start < e.Inputs && ctx.Err() == nil; start += 100 {
		var s history.Send
		var rs []*kgo.Record
		for n := start; n < min(start+100, e.Inputs); n++ {
			part := int32(n % e.cfg.Partitions)
			v := fmt.Sprintf("i-%06d", n)
			s.Records = append(s.Records, history.SendRecord{Topic: e.cfg.Topic, Partition: part, Value: v})
			rs = append(rs, &kgo.Record{Topic: e.cfg.Topic, Partition: part, Value: []byte(v)})
		}
		_, err := e.rec.Invoke(process, history.FSend, &s)
		e.noteRecordErr(err)
		err = cl.ProduceSync(ctx, rs...).FirstErr()
		typ := Classify(err)
		if typ == history.TypeOK {
			for i, r := range rs {
				s.Records[i].Offset = history.Int64(r.Offset)
			}
			_, rerr := e.rec.Ok(process, &s)
			e.noteRecordErr(rerr)
			continue
		}
		if typ == history.TypeFail {
			_, err = e.rec.Fail(process, &s, err)
		} else {
			_, err = e.rec.Info(process, &s, err)
		}
		e.noteRecordErr(err)
		// A new process for the rest: an info batch may land later.
		cl.Close()
		if cl, err = kgo.NewClient(e.producerOpts()...); err != nil {
			return fmt.Errorf("workload: eos input: %w", err)
		}
		process = e.newProcess()
	}
	return nil
}

func (e *EOSWorkload) newSession(tid string) (*kgo.GroupTransactSession, error) {
	opts := append(e.txnProducerOpts(tid, e.opts.TxnTimeout),
		kgo.ConsumerGroup(e.cfg.Group),
		kgo.ConsumeTopics(e.cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.FetchMaxWait(e.cfg.PollTimeout/2),
	)
	s, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return nil, fmt.Errorf("workload: eos session: %w", err)
	}
	return s, nil
}

// work is worker i's loop over session s (started when nil): paced
// transactions; after an info a new session (same transactional id, new
// process id) replaces the old one.
func (e *EOSWorkload) work(ctx context.Context, i int, s *kgo.GroupTransactSession) {
	tid := fmt.Sprintf("highwater-eos-%d", i)
	log := e.cfg.logger().With("client", tid)
	pace := newPacer(max(e.cfg.SendRatePerSec/float64(e.MaxPerTxn), 1) / float64(e.cfg.Producers))
	var err error
	if s == nil {
		if s, err = e.newSession(tid); err != nil {
			log.Error("start session", "err", err)
			return
		}
	}
	process := e.newProcess()
	n := 0
	defer func() { s.Close() }()
	for pace.wait(ctx) {
		typ, ok := e.transform(ctx, s, tid, process, &n)
		if !ok || typ != history.TypeInfo {
			continue
		}
		s.Close()
		if s, err = e.newSession(tid); err != nil {
			log.Error("restart session", "err", err)
			return
		}
		process = e.newProcess()
	}
}

// transform polls up to MaxPerTxn inputs and, if there were any, records
// one transaction writing their outputs and committing the offsets.
func (e *EOSWorkload) transform(ctx context.Context, s *kgo.GroupTransactSession, tid string, process int, n *int) (history.Type, bool) {
	pctx, cancel := context.WithTimeout(ctx, e.cfg.PollTimeout)
	fs := s.PollRecords(pctx, e.MaxPerTxn)
	cancel()
	reads := pollRecords(fs)
	if len(reads) == 0 {
		return "", false
	}
	x := &history.Txn{TransactionalID: tid, Commit: true, Group: e.cfg.Group, Reads: reads}
	outParts := e.out.cfg.Partitions
	for _, pr := range reads {
		for _, r := range pr.Records {
			x.Sends = append(x.Sends, history.SendRecord{Topic: e.OutputTopic(), Partition: pr.Partition % int32(outParts),
				Value: fmt.Sprintf("o%d-%d-%s", process, *n, r.Value), Key: r.Value})
			*n++
		}
		last := pr.Records[len(pr.Records)-1].Offset
		x.Offsets = append(x.Offsets, history.PartitionOffset{Topic: pr.Topic, Partition: pr.Partition, Offset: last + 1})
	}
	_, err := e.rec.Invoke(process, history.FTxn, x)
	e.noteRecordErr(err)
	done := *x
	done.Sends = append([]history.SendRecord(nil), x.Sends...)
	p := &txnProducer{t: e.TxnWorkload, tid: tid, process: process}
	if err := s.Begin(); err != nil {
		return p.finish(&done, history.TypeInfo, err), true
	}
	rs := make([]*kgo.Record, len(done.Sends))
	for i, sr := range done.Sends {
		rs[i] = &kgo.Record{Topic: sr.Topic, Partition: sr.Partition, Key: []byte(sr.Key), Value: []byte(sr.Value)}
	}
	perr := s.ProduceSync(ctx, rs...).FirstErr()
	for i, r := range rs {
		if perr == nil {
			done.Sends[i].Offset = history.Int64(r.Offset)
			if done.ProducerID == nil {
				done.ProducerID, done.ProducerEpoch = history.Int64(r.ProducerID), history.Int16(r.ProducerEpoch)
			}
		}
	}
	done.EndTime = endTime(e.rec)
	ectx, cancel := context.WithTimeout(context.Background(), 2*e.cfg.SendTimeout)
	committed, eerr := s.End(ectx, kgo.TransactionEndTry(perr == nil))
	cancel()
	switch {
	case eerr != nil:
		return p.finish(&done, history.TypeInfo, errors.Join(perr, eerr)), true
	case !committed:
		done.Commit = false
		return p.finish(&done, history.TypeFail, perr), true
	}
	return p.finish(&done, history.TypeOK, nil), true
}

// Recover places drain markers in both topics.
func (e *EOSWorkload) Recover(ctx context.Context) error {
	return e.recoverTopics(ctx, e.cfg.Topic, e.OutputTopic())
}

// Drain records the group's committed offsets (stable: no transaction's
// offsets pending) and reads both topics with read_committed to their
// markers.
func (e *EOSWorkload) Drain(ctx context.Context) error {
	if err := e.recordGroupOffsets(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrDrainIncomplete, err)
	}
	return e.drainTopics(ctx, e.cfg.Topic, e.OutputTopic())
}

func (e *EOSWorkload) recordGroupOffsets(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.seeds()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	process := e.newProcess()
	for {
		_, err := e.rec.Invoke(process, history.FGroupOffsets, &history.Commit{Group: e.cfg.Group})
		e.noteRecordErr(err)
		c, err := e.fetchStableOffsets(ctx, cl)
		if err == nil {
			_, err = e.rec.Ok(process, c)
			e.noteRecordErr(err)
			return nil
		}
		_, rerr := e.rec.Fail(process, nil, err)
		e.noteRecordErr(rerr)
		if !sleepCtx(ctx, retryPause) {
			return fmt.Errorf("group %s offsets: %w", e.cfg.Group, err)
		}
	}
}

// fetchStableOffsets asks for the group's committed offsets with
// require_stable, so offsets of a transaction still completing are waited
// for (UNSTABLE_OFFSET_COMMIT) rather than missed.
func (e *EOSWorkload) fetchStableOffsets(ctx context.Context, cl *kgo.Client) (*history.Commit, error) {
	rctx, cancel := context.WithTimeout(kadm.RequireStable(ctx), 5*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).FetchOffsets(rctx, e.cfg.Group)
	if err != nil {
		return nil, err
	}
	c := &history.Commit{Group: e.cfg.Group}
	for p := range e.cfg.Partitions {
		o, ok := resp.Lookup(e.cfg.Topic, int32(p))
		if !ok {
			continue // nothing committed: offset 0
		}
		if o.Err != nil {
			return nil, fmt.Errorf("%s-%d: %w", e.cfg.Topic, p, o.Err)
		}
		c.Offsets = append(c.Offsets, history.PartitionOffset{Topic: e.cfg.Topic, Partition: int32(p), Offset: max(o.At, 0)})
	}
	return c, nil
}
