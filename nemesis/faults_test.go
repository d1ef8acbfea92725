package nemesis

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRegistryHasEveryFault(t *testing.T) {
	want := []string{"az-cut", "az-loss", "clock-skew", "kill", "kill-coordinator", "lossy", "lost-unsynced", "partition-bridge", "partition-controller",
		"partition-halves", "partition-leader", "partition-node", "partition-producer-coordinator", "partition-ring", "pause", "pause-coordinator",
		"restart", "slow", "stop"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, n := range want {
		f, ok := Lookup(n)
		if !ok || f.Name() != n {
			t.Errorf("Lookup(%q) = %v, %v", n, f, ok)
		}
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup of an unknown name succeeded")
	}
}

// TestEveryFaultInjectsAndHeals: on 3 and 5 nodes with racks, every fault
// with its default selector changes the cluster, and its heal brings it
// back to every node running and no link cut.
func TestEveryFaultInjectsAndHeals(t *testing.T) {
	for _, racks := range [][]string{{"a", "b", "c"}, {"a", "a", "b", "b", "c"}} {
		for _, name := range Names() {
			t.Run(strings.Join(racks, "")+"/"+name, func(t *testing.T) {
				ctx := context.Background()
				fc := newFake(racks...)
				fc.controller = 2
				env := fc.env()
				f, _ := Lookup(name)
				if err := f.Available(env); err != nil {
					t.Fatalf("Available: %v", err)
				}
				target, err := Resolve(ctx, env, defaultSelect(name), env.Rand)
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				heal, err := f.Inject(ctx, env, target)
				if err != nil {
					t.Fatalf("Inject(%v): %v", target, err)
				}
				if name != "restart" && fc.clean() == nil {
					t.Fatalf("Inject(%v) changed nothing: %v", target, fc.callLog())
				}
				if name == "restart" && !slices.Contains(fc.callLog(), "restart 0") {
					t.Fatalf("rolling restart did not restart node 0: %v", fc.callLog())
				}
				if err := heal(ctx); err != nil {
					t.Fatalf("heal: %v", err)
				}
				if err := fc.clean(); err != nil {
					t.Fatalf("after heal: %v (calls %v)", err, fc.callLog())
				}
			})
		}
	}
}

func TestPartitionFaultsCutTheirShape(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		fault, sel string
		want       []Link
	}{
		{"partition-node", "node:2", links([2]int32{2, 0}, [2]int32{2, 1}, [2]int32{2, 3}, [2]int32{2, 4})},
		{"partition-leader", "leader:orders/0", links([2]int32{1, 0}, [2]int32{1, 2}, [2]int32{1, 3}, [2]int32{1, 4})},
		{"partition-controller", "controller", links([2]int32{3, 0}, [2]int32{3, 1}, [2]int32{3, 2}, [2]int32{3, 4})},
		{"partition-halves", "node:0,4", links([2]int32{0, 1}, [2]int32{0, 2}, [2]int32{0, 3}, [2]int32{4, 1}, [2]int32{4, 2}, [2]int32{4, 3})},
		{"az-cut", "rack:b", links([2]int32{2, 0}, [2]int32{2, 1}, [2]int32{2, 4}, [2]int32{3, 0}, [2]int32{3, 1}, [2]int32{3, 4})},
		// node:4 puts 4 first; the rest follow in id order: ring 4 0 1 2 3.
		{"partition-ring", "node:4", RingCuts([]int32{4, 0, 1, 2, 3})},
		{"partition-bridge", "node:4", links([2]int32{0, 2}, [2]int32{0, 3}, [2]int32{1, 2}, [2]int32{1, 3})},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			fc := newFake("a", "a", "b", "b", "c")
			fc.controller = 3
			env := fc.env()
			f, _ := Lookup(tt.fault)
			target, err := Resolve(ctx, env, tt.sel, env.Rand)
			if err != nil {
				t.Fatal(err)
			}
			heal, err := f.Inject(ctx, env, target)
			if err != nil {
				t.Fatal(err)
			}
			if got := fc.cutLinks(); !slices.Equal(got, tt.want) {
				t.Errorf("cut %v, want %v", got, tt.want)
			}
			if err := heal(ctx); err != nil {
				t.Fatal(err)
			}
			if err := fc.clean(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAvailable(t *testing.T) {
	fc := newFake("a", "b", "c")
	noNet := fc.env()
	noNet.Network = nil
	noProc := fc.env()
	noProc.Processes = nil
	noRacks := newFake("", "", "").env()
	oneNode := newFake("a").env()
	for _, name := range Names() {
		f, _ := Lookup(name)
		// partition-producer-coordinator cuts one client through the
		// driver (Processes), not links through the Network.
		partition := strings.HasPrefix(name, "partition-") && name != "partition-producer-coordinator" || name == "az-cut"
		if err := f.Available(fc.env()); err != nil {
			t.Errorf("%s: unavailable with everything: %v", name, err)
		}
		if err := f.Available(noNet); partition != (err != nil) {
			t.Errorf("%s without a Network: Available = %v", name, err)
		} else if err != nil && !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %v does not wrap ErrUnavailable", name, err)
		}
		if err := f.Available(noProc); partition != (err == nil) {
			t.Errorf("%s without Processes: Available = %v", name, err)
		}
		az := strings.HasPrefix(name, "az-")
		if err := f.Available(noRacks); az != (err != nil) {
			t.Errorf("%s without racks: Available = %v", name, err)
		}
		if err := f.Available(oneNode); (partition || az) != (err != nil) {
			t.Errorf("%s on one node: Available = %v", name, err)
		}
	}
	if err := Unavailable(noNet, Schedule{Steps: []Step{{Fault: "kill"}, {Fault: "partition-ring"}, {Fault: "bogus"}}}); len(err) != 2 ||
		!errors.Is(err["partition-ring"], ErrUnavailable) || !errors.Is(err["bogus"], ErrUnknownFault) {
		t.Errorf("Unavailable = %v", err)
	}
}

// TestInjectFailureHealsWhatItDid: a cut that fails half way still heals
// the links already cut; a kill that fails on one node still restarts all.
func TestInjectFailureHealsWhatItDid(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")

	fc := newFake("a", "b", "c", "d", "e")
	fc.failOn["cut 0 3"] = boom
	f, _ := Lookup("partition-node")
	heal, err := f.Inject(ctx, fc.env(), Target{Nodes: []int32{0}})
	if !errors.Is(err, boom) || heal == nil {
		t.Fatalf("Inject = %v, heal nil %v", err, heal == nil)
	}
	if err := heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fc.clean(); err != nil {
		t.Fatal(err)
	}

	fc = newFake("a", "b", "c", "d", "e")
	fc.failOn["kill 1"] = boom
	f, _ = Lookup("kill")
	heal, err = f.Inject(ctx, fc.env(), Target{Nodes: []int32{0, 1, 2}})
	if !errors.Is(err, boom) || heal == nil {
		t.Fatalf("Inject = %v", err)
	}
	if err := heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fc.clean(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"start 0", "start 1", "start 2"} {
		if !slices.Contains(fc.callLog(), id) {
			t.Errorf("heal did not %s: %v", id, fc.callLog())
		}
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	fc := newFake("a", "a", "b", "b", "c")
	fc.controller = 4
	tests := []struct {
		sel     string
		want    []int32 // nil: only the count is checked
		count   int
		wantErr bool
	}{
		{sel: "random", count: 1},
		{sel: "minority", count: 2},
		{sel: "majority", count: 3},
		{sel: "all", count: 5},
		{sel: "majority-ring", count: 5},
		{sel: "bridge", count: 5},
		{sel: "node:3", want: []int32{3}},
		{sel: "node:3,1,3", want: []int32{3, 1}},
		{sel: "controller", want: []int32{4}},
		{sel: "leader:orders/1", want: []int32{2}},
		{sel: "leader", count: 1},
		{sel: "rack:b", want: []int32{2, 3}},
		{sel: "rack", count: -1},
		{sel: "node:9", wantErr: true},
		{sel: "node:x", wantErr: true},
		{sel: "node:", wantErr: true},
		{sel: "leader:orders/9", wantErr: true},
		{sel: "leader:orders", wantErr: true},
		{sel: "rack:z", wantErr: true},
		{sel: "random:1", wantErr: true},
		{sel: "controller:1", wantErr: true},
		{sel: "everything", wantErr: true},
		{sel: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.sel, func(t *testing.T) {
			got, err := Resolve(ctx, fc.env(), tt.sel, NewRand(3))
			if tt.wantErr {
				if !errors.Is(err, ErrSelect) {
					t.Fatalf("Resolve = %v, %v; want ErrSelect", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && !slices.Equal(got.Nodes, tt.want) {
				t.Errorf("nodes %v, want %v", got.Nodes, tt.want)
			}
			if tt.count > 0 && len(got.Nodes) != tt.count {
				t.Errorf("nodes %v, want %d of them", got.Nodes, tt.count)
			}
			if got.Desc == "" {
				t.Error("no description")
			}
			again, _ := Resolve(ctx, fc.env(), tt.sel, NewRand(3))
			if !slices.Equal(got.Nodes, again.Nodes) || got.Desc != again.Desc {
				t.Errorf("same seed, different target: %v then %v", got, again)
			}
		})
	}
}
