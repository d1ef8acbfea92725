package nemesis

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestAmountsInRangeAndSeeded: the seeded amounts stay in their ranges
// and depend only on the seed.
func TestAmountsInRangeAndSeeded(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.Int64().Draw(t, "seed")
		d, j, rate := SlowAmounts(seed)
		if d < slowDelayMin || d > slowDelayMax || j != d/2 || d%time.Millisecond != 0 {
			t.Fatalf("slow delay %v jitter %v", d, j)
		}
		if rate < 64<<10 || rate > 1<<20 || rate&(rate-1) != 0 {
			t.Fatalf("slow rate %d", rate)
		}
		if p := LossPercent(seed); p < 1 || p > 10 {
			t.Fatalf("loss %d%%", p)
		}
		off := SkewOffset(seed)
		if mag := max(off, -off); mag < skewMin || mag > skewMax {
			t.Fatalf("skew %v", off)
		}
		d2, j2, rate2 := SlowAmounts(seed)
		if d2 != d || j2 != j || rate2 != rate || SkewOffset(seed) != off || LossPercent(seed) != LossPercent(seed) {
			t.Fatal("amounts differ for the same seed")
		}
	})
}

// TestDegradeFaultsApplyTheirDescription: what Inject applies is what
// Describe says, and heal undoes it on every target.
func TestDegradeFaultsApplyTheirDescription(t *testing.T) {
	ctx := context.Background()
	const seed = 42
	d, j, rate := SlowAmounts(seed)
	tests := []struct {
		fault string
		nodes []int32
		calls []string
		desc  string
	}{
		{"slow", []int32{1}, []string{fmt.Sprintf("slow 1 %v %v %d", d, j, rate)}, fmt.Sprintf("%v ± %v, %d KiB/s", d, j, rate>>10)},
		{"lossy", []int32{2}, []string{fmt.Sprintf("lossy 2 %d", LossPercent(seed))}, fmt.Sprintf("%d%% lost", LossPercent(seed))},
		{"clock-skew", []int32{0}, []string{fmt.Sprintf("skew 0 %v", SkewOffset(seed))}, SkewOffset(seed).String()},
		{"lost-unsynced", []int32{0, 1, 2}, []string{"kill 0", "kill 1", "kill 2"}, "unsynced writes lost"},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			fc := newFake("a", "b", "c")
			env := fc.env()
			f, _ := Lookup(tt.fault)
			target := Target{Nodes: tt.nodes, Desc: "all", Seed: seed}
			if desc := f.(Describer).Describe(env, target); !strings.Contains(desc, tt.desc) {
				t.Errorf("Describe = %q, want it to say %q", desc, tt.desc)
			}
			heal, err := f.Inject(ctx, env, target)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.calls {
				if !slices.Contains(fc.callLog(), c) {
					t.Errorf("calls %v lack %q", fc.callLog(), c)
				}
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

// TestDegradeFaultsAvailability: each fault says why it cannot run, from
// the driver's own reason, and an explicit Env field wins over Processes.
func TestDegradeFaultsAvailability(t *testing.T) {
	fc := newFake("a", "b", "c")
	fc.noLinks = errors.New("no proxies: start with Proxy")
	fc.noClocks = errors.New("no fault endpoints")
	fc.noUnsynced = errors.New("no page cache")
	for name, why := range map[string]string{"slow": "no proxies", "lossy": "no proxies", "clock-skew": "endpoints", "lost-unsynced": "page cache"} {
		f, _ := Lookup(name)
		err := f.Available(fc.env())
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), why) {
			t.Errorf("%s: Available = %v, want ErrUnavailable saying %q", name, err, why)
		}
	}
	// Processes without the optional methods: unavailable; explicit
	// fields make them available again.
	bare := Env{Processes: struct{ Processes }{fc}, Topology: fc}
	other := newFake("a", "b", "c")
	for _, name := range []string{"slow", "lossy", "clock-skew", "lost-unsynced"} {
		f, _ := Lookup(name)
		if err := f.Available(bare); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s on a driver without it: %v", name, err)
		}
		withFields := bare
		withFields.Links, withFields.Clocks, withFields.Unsynced = other, other, other
		if err := f.Available(withFields); err != nil {
			t.Errorf("%s with Env fields: %v", name, err)
		}
	}
}

// TestRunSeedsFaultAmounts: a replay of the same schedule applies the same
// amounts; the generated schedule with the new faults round-trips.
func TestRunSeedsFaultAmounts(t *testing.T) {
	s := Schedule{Seed: 11, Steps: []Step{
		{At: 0, Duration: ms(1), Fault: "clock-skew"},
		{At: ms(2), Duration: ms(1), Fault: "slow"},
		{At: ms(4), Duration: ms(1), Fault: "lossy"},
		{At: ms(6), Duration: ms(1), Fault: "lost-unsynced"},
	}}
	run := func() ([]string, []string) {
		fc := newFake("a", "b", "c")
		env := fc.env()
		env.Rand = nil
		rec := &memRecorder{}
		if err := Run(context.Background(), env, s, rec); err != nil {
			t.Fatal(err)
		}
		if err := fc.clean(); err != nil {
			t.Fatal(err)
		}
		var descs []string
		for _, f := range rec.faults {
			descs = append(descs, f.Description)
		}
		calls := fc.callLog()
		slices.Sort(calls) // process faults act on their nodes concurrently
		return descs, calls
	}
	d1, c1 := run()
	d2, c2 := run()
	if len(d1) != 4 || !reflect.DeepEqual(d1, d2) || !reflect.DeepEqual(c1, c2) {
		t.Errorf("replays differ:\n%q\n%q\n%q\n%q", d1, d2, c1, c2)
	}
	g := Generate(3, []string{"slow", "lossy", "clock-skew", "lost-unsynced"}, time.Minute, 5*time.Second, 5*time.Second)
	back, err := Parse(g.String())
	if err != nil || !reflect.DeepEqual(back, g) {
		t.Errorf("round trip: %v\n%s", err, g)
	}
}

// TestRunRestoresLinksAndClocksAtTheEnd: a heal that fails ends the run
// with its error, but the final safety net still restores every node.
func TestRunRestoresLinksAndClocksAtTheEnd(t *testing.T) {
	for fault, call := range map[string]string{"slow": "restore 1", "clock-skew": "reset clock 1"} {
		fc := newFake("a", "b", "c")
		boom := errors.New("boom")
		fc.failOn[call] = boom
		s := Schedule{Seed: 1, Steps: []Step{{At: 0, Duration: ms(1), Fault: fault, Select: "node:1"}}}
		if err := Run(context.Background(), fc.env(), s, nil); !errors.Is(err, boom) {
			t.Fatalf("%s: Run = %v, want the failed heal", fault, err)
		}
		if err := fc.clean(); err != nil {
			t.Fatalf("%s: after Run: %v (calls %v)", fault, err, fc.callLog())
		}
	}
}
