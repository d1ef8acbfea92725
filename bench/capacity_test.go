package bench

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// fakeBroker is a target that sustains exactly capacity records/s: above it
// the acknowledged rate saturates and open-loop latency grows with the
// backlog; p99Floor is its latency when keeping up.
func fakeBroker(capacity, p99FloorMs float64) func(rate float64) (Probe, error) {
	return func(rate float64) (Probe, error) {
		p := Probe{RatePerSec: rate, SentPerSec: min(rate, capacity), P99Ms: p99FloorMs, MBPerSec: min(rate, capacity) / 1024}
		p.SentRatio = p.SentPerSec / rate
		if rate > capacity {
			p.P99Ms += 1000 * (rate - capacity) / capacity
		}
		return p, nil
	}
}

func TestCapacitySearchFindsFakeCapacity(t *testing.T) {
	cfg := DefaultCapacityConfig()
	cfg.StartRatePerSec = 1000
	s, err := SearchCapacity(cfg, fakeBroker(50_000, 5))
	if err != nil {
		t.Fatal(err)
	}
	best, ok := s.Best()
	if !ok {
		t.Fatalf("nothing found; probes %+v", s.Probes())
	}
	// Sustained means never above the real capacity, and within the
	// bracket the bisection leaves: 25 % / 2^4.
	if best.RatePerSec > 50_000 || best.RatePerSec < 50_000/(1+0.25/16)-1 {
		t.Errorf("sustainable %v, want within 1.6 %% below 50000", best.RatePerSec)
	}
	probes := s.Probes()
	// 1000 × 1.25^18 ≈ 55511 fails: 18 passing steps, the failure, 4
	// bisections.
	if len(probes) != 23 {
		t.Errorf("%d probes, want 23: %+v", len(probes), probes)
	}
	if !strings.Contains(s.LimitedBy(), "sent/requested") {
		t.Errorf("limited by %q", s.LimitedBy())
	}
}

func TestCapacitySearchLatencyBound(t *testing.T) {
	cfg := DefaultCapacityConfig()
	cfg.StartRatePerSec = 10_000
	cfg.P99Bound = 20 * time.Millisecond
	// Keeps up on rate everywhere, but p99 is 30 ms: nothing passes and
	// the search halves down to its floor.
	s, err := SearchCapacity(cfg, func(rate float64) (Probe, error) {
		return Probe{SentPerSec: rate, SentRatio: 1, P99Ms: 30}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Best(); ok {
		t.Errorf("found a rate through a p99 bound nothing meets")
	}
	if n := len(s.Probes()); n > cfg.MaxProbes || n < 10 {
		t.Errorf("%d probes", n)
	}
	if !strings.Contains(s.Probes()[0].Reason, "p99 30.0 ms > 20ms") {
		t.Errorf("reason %q", s.Probes()[0].Reason)
	}
}

func TestCapacitySearchCapAndErrors(t *testing.T) {
	cfg := DefaultCapacityConfig()
	cfg.StartRatePerSec, cfg.MaxRatePerSec = 1000, 1500
	s, err := SearchCapacity(cfg, fakeBroker(1e9, 1))
	if err != nil {
		t.Fatal(err)
	}
	if best, _ := s.Best(); best.RatePerSec != 1500 || len(s.Probes()) != 3 || !strings.Contains(s.LimitedBy(), "cap") {
		t.Errorf("capped search: best %v after %d probes, %q", best.RatePerSec, len(s.Probes()), s.LimitedBy())
	}
	stop := errors.New("cancelled")
	if _, err := SearchCapacity(cfg, func(float64) (Probe, error) { return Probe{}, stop }); !errors.Is(err, stop) {
		t.Errorf("probe error not returned: %v", err)
	}
	// A probe that failed to run is a failure, not a pass.
	p := cfg.Judge(Probe{RatePerSec: 1, SentRatio: 1, Err: "broker gone"})
	if p.Pass || !strings.Contains(p.Reason, "broker gone") {
		t.Errorf("judge %+v", p)
	}
	if _, err := NewCapacitySearch(CapacityConfig{}); !errors.Is(err, ErrBadCapacityConfig) {
		t.Errorf("zero config accepted: %v", err)
	}
	noStart := DefaultCapacityConfig()
	if _, err := NewCapacitySearch(noStart); !errors.Is(err, ErrBadCapacityConfig) {
		t.Errorf("search without a start rate accepted: %v", err)
	}
}

// TestCapacitySearchProperty: against any fake capacity and start rate the
// search never reports a rate the target did not sustain (within the
// sent/requested tolerance), ends within its
// budget, and finds the capacity to within the bisection's resolution
// whenever the capacity lies in the range it can reach.
func TestCapacitySearchProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		capacity := rapid.Float64Range(10, 1e7).Draw(t, "capacity")
		start := rapid.Float64Range(10, 1e6).Draw(t, "start")
		cfg := DefaultCapacityConfig()
		cfg.StartRatePerSec = start
		cfg.BisectSteps = rapid.IntRange(0, 8).Draw(t, "bisects")
		s, err := SearchCapacity(cfg, fakeBroker(capacity, 1))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(s.Probes()); n > cfg.MaxProbes {
			t.Fatalf("%d probes > budget %d", n, cfg.MaxProbes)
		}
		best, ok := s.Best()
		// Within the sent/requested tolerance the fake keeps up a little
		// above its capacity, as a real broker's slack would.
		if ok && best.RatePerSec > capacity/cfg.MinSentRatio {
			t.Fatalf("reported %v above capacity %v", best.RatePerSec, capacity)
		}
		reachable := start*math.Pow(cfg.StepFactor, float64(cfg.MaxProbes-cfg.BisectSteps-2)) > capacity
		if !reachable || start > capacity {
			return // halving from above has its own, coarser, resolution
		}
		// The bisection stops after BisectSteps or once the bracket is
		// within ResolutionRatio, whichever comes first.
		width := (cfg.StepFactor - 1) / math.Pow(2, float64(cfg.BisectSteps))
		floor := min(capacity/(1+width), capacity*(1-cfg.ResolutionRatio))
		if !ok || best.RatePerSec < floor*(1-1e-9) {
			t.Fatalf("found %v (ok %v), capacity %v, resolution %v", best.RatePerSec, ok, capacity, width)
		}
	})
}
