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

// TestFaultFreeKfake runs the whole workload against franz-go's in-memory
// kfake cluster and checks the history: fault-free, it must be valid.
func TestFaultFreeKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "highwater-queue"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "history.jsonl")
	hw, err := history.Create(path, history.Header{Scenario: "kfake", Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(strings.Join(c.ListenAddrs(), ","))
	cfg.Duration = 3 * time.Second
	cfg.Seed = 7
	w, err := New(cfg, hw)
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
	if s.Valid != checker.Valid {
		t.Fatalf("fault-free kfake run: %s", s.Valid)
	}
	h, err := history.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[history.F]int{}
	for _, op := range h.Ops {
		if op.Type() == history.TypeOK {
			counts[op.Invoke.F]++
		}
	}
	for _, f := range []history.F{history.FSend, history.FPoll, history.FFetch, history.FListOffsets} {
		if counts[f] == 0 {
			t.Errorf("no ok %s operations: %v", f, counts)
		}
	}
}
