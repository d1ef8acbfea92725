package workload

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/history"
)

// zombiePause is the pause between two zombie rounds.
const zombiePause = 500 * time.Millisecond

// zombies is zombie loop i (TxnOptions.Zombies): rounds of a fenced
// producer writing on, until ctx ends.
//
// A round, all under one transactional id and one partition p: producer A
// begins a transaction and writes to p; producer B initialises the same
// id, which bumps the epoch and fences A (the coordinator aborts A's
// transaction); B begins a transaction and writes to p; A, now a zombie,
// writes to p again; B commits; A tries to commit. A's transaction
// certainly aborted once B's initialisation succeeded, so it is recorded
// as failed and none of its values may ever be read with read_committed.
// A broker that accepts the zombie's second write lets it join B's open
// transaction in p, and B's commit makes it readable: G1a.
func (t *TxnWorkload) zombies(ctx context.Context, i int) {
	tid := fmt.Sprintf("highwater-zombie-%d", i)
	log := t.cfg.logger().With("client", tid)
	for round := 0; ctx.Err() == nil; round++ {
		if err := t.zombieRound(ctx, tid, int32(round%t.cfg.Partitions)); err != nil {
			log.Debug("zombie round", "round", round, "err", err)
		}
		if !sleepCtx(ctx, zombiePause) {
			return
		}
	}
}

// zombieRound runs one round on partition part; see zombies.
func (t *TxnWorkload) zombieRound(ctx context.Context, tid string, part int32) error {
	w := t.Workload
	newClient := func() (*kgo.Client, error) { return kgo.NewClient(w.txnProducerOpts(tid, t.opts.TxnTimeout)...) }
	a, err := newClient()
	if err != nil {
		return err
	}
	defer a.Close()
	pa := w.newProcess()
	xa := &history.Txn{TransactionalID: tid, Commit: true, Sends: []history.SendRecord{
		{Topic: w.cfg.Topic, Partition: part, Value: fmt.Sprintf("t%d-%06d", pa, 0)},
		{Topic: w.cfg.Topic, Partition: part, Value: fmt.Sprintf("t%d-%06d", pa, 1)},
	}}
	_, rerr := w.rec.Invoke(pa, history.FTxn, xa)
	w.noteRecordErr(rerr)
	doneA := *xa
	doneA.Sends = append([]history.SendRecord(nil), xa.Sends...)
	fenced := false
	defer func() {
		// A round cut short before the zombie write aborts: a committed
		// transaction would claim a send that never happened.
		doneA.Commit = doneA.Sends[1].Offset != nil
		t.endZombie(a, pa, &doneA, fenced)
	}()
	if err := a.BeginTransaction(); err != nil {
		return err
	}
	if err := t.zombieSend(ctx, a, &doneA, 0); err != nil {
		return err
	}
	b, err := newClient()
	if err != nil {
		return err
	}
	defer b.Close()
	ictx, cancel := context.WithTimeout(ctx, 2*w.cfg.SendTimeout)
	_, _, err = b.ProducerID(ictx)
	cancel()
	if err != nil {
		return fmt.Errorf("fencing producer: %w", err)
	}
	fenced = true // A's transaction can no longer commit
	pb := w.newProcess()
	xb := &history.Txn{TransactionalID: tid, Commit: true, Sends: []history.SendRecord{
		{Topic: w.cfg.Topic, Partition: part, Value: fmt.Sprintf("t%d-%06d", pb, 0)},
	}}
	_, rerr = w.rec.Invoke(pb, history.FTxn, xb)
	w.noteRecordErr(rerr)
	doneB := *xb
	doneB.Sends = append([]history.SendRecord(nil), xb.Sends...)
	if err := b.BeginTransaction(); err != nil {
		(&txnProducer{t: t, process: pb}).finish(&doneB, history.TypeInfo, err)
		return err
	}
	berr := t.zombieSend(ctx, b, &doneB, 0)
	zerr := t.zombieSend(ctx, a, &doneA, 1) // the zombie write
	if berr != nil {
		doneB.Commit = false
	}
	doneB.EndTime = endTime(w.rec)
	ectx, cancel := context.WithTimeout(context.Background(), 2*w.cfg.SendTimeout)
	eerr := b.EndTransaction(ectx, kgo.TransactionEndTry(doneB.Commit))
	cancel()
	pB := &txnProducer{t: t, process: pb}
	switch {
	case eerr != nil:
		pB.finish(&doneB, history.TypeInfo, errors.Join(berr, eerr))
	case berr != nil:
		pB.finish(&doneB, history.TypeFail, berr)
	default:
		pB.finish(&doneB, history.TypeOK, nil)
	}
	return zerr
}

// zombieSend sends x.Sends[i] through cl and records its offset.
func (t *TxnWorkload) zombieSend(ctx context.Context, cl *kgo.Client, x *history.Txn, i int) error {
	s := x.Sends[i]
	r := &kgo.Record{Topic: s.Topic, Partition: s.Partition, Value: []byte(s.Value)}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return err
	}
	x.Sends[i].Offset = history.Int64(r.Offset)
	if x.ProducerID == nil {
		x.ProducerID, x.ProducerEpoch = history.Int64(r.ProducerID), history.Int16(r.ProducerEpoch)
	}
	return nil
}

// endZombie tries to commit A's transaction and records its outcome:
// failed when a newer producer was initialised meanwhile (fenced: the
// coordinator aborted it) or the coordinator says so, else as the end
// call reports.
func (t *TxnWorkload) endZombie(a *kgo.Client, process int, x *history.Txn, fenced bool) {
	x.EndTime = endTime(t.rec)
	ectx, cancel := context.WithTimeout(context.Background(), 2*t.cfg.SendTimeout)
	err := a.EndTransaction(ectx, kgo.TransactionEndTry(x.Commit))
	cancel()
	p := &txnProducer{t: t, process: process}
	switch {
	case err == nil:
		p.finish(x, history.TypeOK, nil)
	case fenced || errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch):
		p.finish(x, history.TypeFail, err)
	default:
		p.finish(x, history.TypeInfo, err)
	}
}
