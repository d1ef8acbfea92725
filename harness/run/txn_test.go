package run

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/highwater-io/highwater/checker"
	"github.com/highwater-io/highwater/history"
)

// TestScenarioKinds: the workload kind defaults to queue, txn and eos get
// their own topic, an unknown kind is refused, "all" faults means every
// available one, and the default cluster has 3 nodes (1 for kfake).
func TestScenarioKinds(t *testing.T) {
	sc := Scenario{Name: "x"}.Defaults()
	if sc.Kind != WorkloadQueue || sc.Cluster.nodes() != 3 {
		t.Errorf("defaults: kind %q, %d nodes", sc.Kind, sc.Cluster.nodes())
	}
	tx := Scenario{Name: "x", Kind: WorkloadTxn, Faults: []string{FaultsAll}}.Defaults()
	if err := tx.Validate(); err != nil {
		t.Fatal(err)
	}
	if tx.Workload.Topic != "highwater-txn" || tx.Faults != nil {
		t.Errorf("txn defaults: topic %q, faults %v", tx.Workload.Topic, tx.Faults)
	}
	if cmd := tx.ReplayCommand(1, nil); !strings.Contains(cmd, "--workload txn") {
		t.Errorf("replay %q lacks the workload", cmd)
	}
	if n := (ClusterConfig{Impl: ImplKfake}).nodes(); n != 1 {
		t.Errorf("kfake default nodes %d", n)
	}
	if err := (Scenario{Name: "x", Kind: "bank"}).Defaults().Validate(); !errors.Is(err, ErrBadScenario) {
		t.Errorf("unknown kind: %v", err)
	}
}

// TestRunTxnKfake runs the txn workload end to end against kfake: the
// history names its workload, the transactional checkers judge it, and
// the process faults are unavailable rather than failing the run.
func TestRunTxnKfake(t *testing.T) {
	w := Scenario{}.Defaults().Workload
	w.Duration, w.SendRatePerSec = 3*time.Second, 20
	sc := Scenario{Name: "txn-kfake", Kind: WorkloadTxn, Cluster: ClusterConfig{Impl: ImplKfake}, Workload: w, Faults: []string{FaultsAll}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, sc, Options{RunsDir: t.TempDir(), Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != checker.Valid {
		t.Fatalf("verdict %s\n%s", res.Verdict, res.Text)
	}
	var names []string
	for _, r := range res.Summary.Results {
		names = append(names, r.Checker)
	}
	if strings.Join(names, ",") != "txn,txn-cycles,replicas" {
		t.Errorf("checkers %v", names)
	}
	// kfake keeps no data directories: the replica check says it skipped.
	if r := res.Summary.Results[len(res.Summary.Results)-1]; r.Valid != checker.Valid || len(r.Findings) != 1 || r.Findings[0].Type != checker.ReplicasSkipped {
		t.Errorf("replicas result %+v, want valid with a skipped finding", r)
	}
	h, err := history.Load(res.Dir + "/" + HistoryJSONL)
	if err != nil {
		t.Fatal(err)
	}
	if h.Header.Params["workload"] != WorkloadTxn || res.Figures.TxnsCommitted == 0 {
		t.Errorf("workload %q, %d committed transactions", h.Header.Params["workload"], res.Figures.TxnsCommitted)
	}
}
