package run

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/highwater-io/highwater/harness/cluster"
)

// A cluster reached by address: nodes come from Metadata, process faults
// are unavailable and say why, Close leaves the cluster running.
func TestAddressCluster(t *testing.T) {
	k, err := startKfake(3)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := startAddress(ctx, " "+k.Bootstrap()+", ")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Nodes()) != 3 {
		t.Fatalf("nodes %v, want 3", a.Nodes())
	}
	id := a.Nodes()[0].ID
	if err := a.Kill(ctx, id); !errors.Is(err, cluster.ErrUnavailable) || !strings.Contains(err.Error(), "not run by the harness") {
		t.Fatalf("Kill: %v", err)
	}
	if err := a.Kill(ctx, 99); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Fatalf("Kill(99): %v", err)
	}
	if err := a.Resume(ctx, id); err != nil {
		t.Fatalf("Resume (heal) of a running node: %v", err)
	}
	if _, err := a.ActiveController(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Leaders(ctx); err != nil {
		t.Fatalf("cluster gone after Close: %v", err)
	}
	if _, err := startAddress(ctx, " , "); !errors.Is(err, ErrBadScenario) {
		t.Fatalf("empty bootstrap: %v", err)
	}
	sc := Scenario{Name: "x", Cluster: ClusterConfig{Impl: ImplAddress}}.Defaults()
	if err := sc.Validate(); !errors.Is(err, ErrBadScenario) {
		t.Fatalf("address without bootstrap validated: %v", err)
	}
	sc.Cluster.Bootstrap = k.Bootstrap()
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	if cmd := sc.ReplayCommand(1, nil); !strings.Contains(cmd, "--bootstrap "+k.Bootstrap()) {
		t.Fatalf("replay %q lacks the bootstrap", cmd)
	}
}
