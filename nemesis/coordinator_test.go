package nemesis

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (f *fakeCluster) TxnCoordinator(_ context.Context, tid string) (int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("find-coordinator " + tid); err != nil {
		return 0, err
	}
	id, ok := f.txns[tid]
	if !ok {
		return 0, fmt.Errorf("no transactional id %q", tid)
	}
	return id, nil
}

func (f *fakeCluster) TransactionalIDs(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.txns)), f.record("list-transactions")
}

func (f *fakeCluster) ClientCutsAvailable() error { return nil }

func (f *fakeCluster) CutClient(_ context.Context, id int32, client string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clientCuts[fmt.Sprintf("%d/%s", id, client)] = true
	return f.record(fmt.Sprintf("cut-client %d %s", id, client))
}

func (f *fakeCluster) HealClient(_ context.Context, id int32, client string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.clientCuts, fmt.Sprintf("%d/%s", id, client))
	return f.record(fmt.Sprintf("heal-client %d %s", id, client))
}

func TestSelectCoordinator(t *testing.T) {
	ctx := context.Background()
	fc := newFake("a", "b", "c")
	env := fc.env()
	tests := []struct {
		name, sel string
		ids       []string
		wantNodes []int32
		wantTid   string
		wantErr   bool
	}{
		{name: "named", sel: "coordinator:tx-b", wantNodes: []int32{2}, wantTid: "tx-b"},
		{name: "workload ids", sel: "coordinator", ids: []string{"tx-a"}, wantNodes: []int32{0}, wantTid: "tx-a"},
		{name: "unknown id", sel: "coordinator:nope", wantErr: true},
		{name: "empty arg", sel: "coordinator:", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env
			e.TransactionalIDs = tt.ids
			got, err := Resolve(ctx, e, tt.sel, NewRand(7))
			if tt.wantErr {
				if !errors.Is(err, ErrSelect) {
					t.Fatalf("Resolve(%q) = %v, %v; want ErrSelect", tt.sel, got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got.Nodes, tt.wantNodes) || got.TransactionalID != tt.wantTid {
				t.Fatalf("Resolve(%q) = %+v, %v", tt.sel, got, err)
			}
		})
	}
	// Without workload ids the selector asks the cluster, and the same
	// seed draws the same id.
	a, err := Resolve(ctx, env, "coordinator", NewRand(3))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Resolve(ctx, env, "coordinator", NewRand(3))
	if a.TransactionalID != b.TransactionalID || !slices.Contains(fc.callLog(), "list-transactions") {
		t.Fatalf("draws %+v and %+v, calls %v", a, b, fc.callLog())
	}
}

func TestCoordinatorFaultsUnavailable(t *testing.T) {
	fc := newFake("a", "b", "c")
	noTxn := fc.env()
	noTxn.NoTransactions = true
	bare := Env{Processes: procOnly{fc}, Topology: procOnly{fc}}
	for _, name := range []string{"kill-coordinator", "pause-coordinator", "partition-producer-coordinator"} {
		f, _ := Lookup(name)
		if err := f.Available(noTxn); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s without transactions: %v", name, err)
		}
		if err := f.Available(bare); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s without coordinator lookup or client cuts: %v", name, err)
		}
	}
}

// procOnly hides the fake's optional abilities.
type procOnly struct{ *fakeCluster }

func (procOnly) TxnCoordinator() {}

func TestPartitionProducerCoordinator(t *testing.T) {
	ctx := context.Background()
	fc := newFake("a", "b", "c")
	f, _ := Lookup("partition-producer-coordinator")
	target, err := Resolve(ctx, fc.env(), "coordinator:tx-b", NewRand(1))
	if err != nil {
		t.Fatal(err)
	}
	heal, err := f.Inject(ctx, fc.env(), target)
	if err != nil {
		t.Fatal(err)
	}
	if !fc.clientCuts["2/tx-b"] {
		t.Fatalf("cuts %v", fc.clientCuts)
	}
	if got := f.(Describer).Describe(fc.env(), target); got != "cut producer tx-b from its coordinator of tx-b n2" {
		t.Errorf("Describe = %q", got)
	}
	if err := heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fc.clean(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Inject(ctx, fc.env(), Target{Nodes: []int32{1}}); !errors.Is(err, ErrSelect) {
		t.Errorf("Inject without a transactional id = %v", err)
	}
}

func TestCoordinatorOf(t *testing.T) {
	v4 := kmsg.NewPtrFindCoordinatorResponse()
	v4.Coordinators = []kmsg.FindCoordinatorResponseCoordinator{{Key: "x", NodeID: 3}}
	old := kmsg.NewPtrFindCoordinatorResponse()
	old.NodeID = 2
	bad := kmsg.NewPtrFindCoordinatorResponse()
	bad.Coordinators = []kmsg.FindCoordinatorResponseCoordinator{{Key: "x", NodeID: -1, ErrorCode: kerr.CoordinatorNotAvailable.Code}}
	if id, err := coordinatorOf(v4, "x"); id != 3 || err != nil {
		t.Errorf("v4: %d, %v", id, err)
	}
	if id, err := coordinatorOf(old, "x"); id != 2 || err != nil {
		t.Errorf("old: %d, %v", id, err)
	}
	if _, err := coordinatorOf(bad, "x"); !errors.Is(err, kerr.CoordinatorNotAvailable) {
		t.Errorf("bad: %v", err)
	}
}

func TestCoordinatorScheduleRoundTrip(t *testing.T) {
	s := Generate(5, []string{"kill-coordinator", "pause-coordinator", "partition-producer-coordinator"}, 60e9, 5e9, 5e9)
	s.Steps = append(s.Steps, Step{At: 61e9, Duration: 1e9, Fault: "kill-coordinator", Select: "coordinator:highwater-txn-1"})
	for _, st := range s.Steps[:len(s.Steps)-1] {
		if st.Select != SelectCoordinator {
			t.Errorf("step %+v: default selector is not %q", st, SelectCoordinator)
		}
	}
	back, err := Parse(s.String())
	if err != nil || back.String() != s.String() {
		t.Fatalf("Parse(String()) = %v, %v\n%s", back, err, s)
	}
}
