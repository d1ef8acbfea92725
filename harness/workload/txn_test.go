package workload

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/highwater-io/highwater/checker"
	"github.com/highwater-io/highwater/history"
)

// runner is what the transactional workloads share with the queue one.
type runner interface {
	EnsureTopic(ctx context.Context) error
	Run(ctx context.Context) error
	Recover(ctx context.Context) error
	Drain(ctx context.Context) error
}

// runKfake runs a workload built by mk against a fresh kfake cluster,
// checks the history with the workload's checkers and returns the
// summary and history.
func runKfake(t *testing.T, workload string, mk func(cfg Config, hw *history.Writer) (runner, error)) (checker.Summary, *history.History) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "history.jsonl")
	hw, err := history.Create(path, history.Header{Scenario: "kfake-" + workload, Seed: 7, Params: map[string]string{"workload": workload}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(strings.Join(c.ListenAddrs(), ","))
	cfg.Topic = "highwater-" + workload
	cfg.Duration = 3 * time.Second
	cfg.SendRatePerSec = 40
	cfg.Seed = 7
	w, err := mk(cfg, hw)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.EnsureTopic(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := hw.Phase(history.PhaseWorkload, ""); err != nil {
		t.Fatal(err)
	}
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	hw.Close()
	s, err := checker.Check(ctx, path, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", s.Text())
	h, err := history.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return s, h
}

// TestTxnKfake: fault-free, the transactional workload against kfake is
// valid, and it recorded commits, aborts, reads inside transactions and
// polls at both isolation levels.
func TestTxnKfake(t *testing.T) {
	s, h := runKfake(t, "txn", func(cfg Config, hw *history.Writer) (runner, error) {
		return NewTxn(cfg, hw, DefaultTxnOptions())
	})
	if s.Valid != checker.Valid {
		t.Fatalf("fault-free kfake txn run: %s", s.Valid)
	}
	var commits, aborts, reads int
	iso := map[string]int{}
	for _, op := range h.Ops {
		switch op.F {
		case history.FTxn:
			x, _ := op.Complete.Txn()
			if x == nil {
				continue
			}
			switch {
			case x.Committed(op.Type()):
				commits++
			case x.Aborted(op.Type()):
				aborts++
			}
			for _, pr := range x.Reads {
				reads += len(pr.Records)
			}
		case history.FPoll:
			if p, ok := op.Complete.Poll(); ok && len(p.Partitions) > 0 {
				iso[p.Isolation]++
			}
		}
	}
	if commits == 0 || aborts == 0 || reads == 0 || iso[history.ReadCommitted] == 0 || iso[history.ReadUncommitted] == 0 {
		t.Errorf("commits %d aborts %d in-txn reads %d polls by isolation %v", commits, aborts, reads, iso)
	}
}

// TestEOSKfake: fault-free, consume-transform-produce against kfake is
// exactly-once and valid.
func TestEOSKfake(t *testing.T) {
	s, h := runKfake(t, "eos", func(cfg Config, hw *history.Writer) (runner, error) {
		cfg.Producers = 2
		return NewEOS(cfg, hw, DefaultTxnOptions(), 200)
	})
	if s.Valid != checker.Valid {
		t.Fatalf("fault-free kfake eos run: %s", s.Valid)
	}
	txns := 0
	for _, op := range h.Ops {
		if op.F == history.FTxn && op.Type() == history.TypeOK {
			txns++
		}
	}
	if txns == 0 {
		t.Error("no committed transactions")
	}
	for _, r := range s.Results {
		t.Logf("%s stats %v", r.Checker, r.Stats)
	}
}

// mislabel is a Recorder that records every poll as read_committed: the
// read_uncommitted consumer's aborted records then look like aborted
// records returned to a read_committed consumer (the planted bug of issue
// 8), which the checker must catch.
type mislabel struct{ *history.Writer }

func (m mislabel) relabel(value any) any {
	if p, ok := value.(*history.Poll); ok && p != nil {
		q := *p
		q.Isolation = history.ReadCommitted
		return &q
	}
	return value
}

func (m mislabel) Invoke(process int, f history.F, value any) (history.Event, error) {
	return m.Writer.Invoke(process, f, m.relabel(value))
}

func (m mislabel) Ok(process int, value any) (history.Event, error) {
	return m.Writer.Ok(process, m.relabel(value))
}

// TestTxnKfakePlantedAbortedRead: with aborted records shown to "read
// committed" consumers the run is invalid with G1a.
func TestTxnKfakePlantedAbortedRead(t *testing.T) {
	s, _ := runKfake(t, "txn", func(cfg Config, hw *history.Writer) (runner, error) {
		o := DefaultTxnOptions()
		o.AbortProbability = 0.5
		return NewTxn(cfg, mislabel{hw}, o)
	})
	if s.Valid != checker.Invalid || s.Results[0].Counts[checker.AbortedRead] == 0 {
		t.Fatalf("planted aborted reads: %s %v", s.Valid, s.Results[0].Counts)
	}
}
