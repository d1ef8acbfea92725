package nemesis

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Faults beyond processes and partitions: degraded links, clock skew, and
// crashes that lose unsynced writes. Their amounts come from Target.Seed,
// so Describe and Inject agree and a replay applies the same ones.
func init() {
	Register(linkFault{name: "slow"})
	Register(linkFault{name: "lossy"})
	Register(clockSkew{})
	Register(lostUnsynced{})
}

// Ranges the seeded amounts are drawn from.
const (
	slowDelayMin, slowDelayMax = 50 * time.Millisecond, 500 * time.Millisecond
	slowRateMinBytesPerSecond  = 64 << 10 // 64 KiB/s .. 1 MiB/s, powers of two
	slowRateSteps              = 5
	lossyPercentMin            = 1
	lossyPercentMax            = 10
	skewMin, skewMax           = time.Second, 10 * time.Minute
)

// SlowAmounts are the delay, jitter and rate cap the slow fault applies
// for seed: delay uniform in [50 ms, 500 ms] (whole milliseconds), jitter
// half the delay, rate 64 KiB/s × 2^k for k in 0..4.
func SlowAmounts(seed int64) (delay, jitter time.Duration, rateBytesPerSecond int64) {
	r := NewRand(seed)
	span := int64((slowDelayMax - slowDelayMin) / time.Millisecond)
	delay = slowDelayMin + time.Duration(r.Int64N(span+1))*time.Millisecond
	return delay, delay / 2, int64(slowRateMinBytesPerSecond) << r.IntN(slowRateSteps)
}

// LossPercent is the share of traffic the lossy fault loses for seed,
// uniform in 1..10 %.
func LossPercent(seed int64) int {
	return lossyPercentMin + NewRand(seed).IntN(lossyPercentMax-lossyPercentMin+1)
}

// SkewOffset is the clock offset the clock-skew fault applies for seed:
// log-uniform magnitude between 1 s and 10 min (whole milliseconds),
// either sign.
func SkewOffset(seed int64) time.Duration {
	r := NewRand(seed)
	lo, hi := math.Log(float64(skewMin)), math.Log(float64(skewMax))
	d := time.Duration(math.Exp(lo + r.Float64()*(hi-lo))).Round(time.Millisecond)
	if r.IntN(2) == 0 {
		return -d
	}
	return d
}

// linkFault degrades every link of each target node for the window.
type linkFault struct{ name string }

func (f linkFault) Name() string          { return f.name }
func (f linkFault) DefaultSelect() string { return SelectRandom }

func (f linkFault) Available(env Env) error {
	l := env.links()
	if l == nil {
		return fmt.Errorf("%w: %s: the cluster driver cannot degrade links (the reference cluster can with its proxy mode or, as root, network namespaces)", ErrUnavailable, f.name)
	}
	if err := l.LinksAvailable(f.name); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, f.name, err)
	}
	return needNodes(env, f.name, 1)
}

func (f linkFault) Describe(_ Env, t Target) string {
	if f.name == "slow" {
		d, j, rate := SlowAmounts(t.Seed)
		return fmt.Sprintf("slow links of %s: %v ± %v, %d KiB/s", nodeList(t.Nodes), d, j, rate>>10)
	}
	return fmt.Sprintf("lossy links of %s: %d%% lost", nodeList(t.Nodes), LossPercent(t.Seed))
}

func (f linkFault) Inject(ctx context.Context, env Env, t Target) (func(context.Context) error, error) {
	if len(t.Nodes) == 0 {
		return nil, fmt.Errorf("%w: %s: empty target", ErrSelect, f.name)
	}
	l := env.links()
	if l == nil {
		return nil, f.Available(env)
	}
	heal := func(ctx context.Context) error { return forEach(ctx, t.Nodes, l.RestoreLinks) }
	act := func(ctx context.Context, id int32) error {
		if f.name == "slow" {
			d, j, rate := SlowAmounts(t.Seed)
			return l.SlowLinks(ctx, id, d, j, rate)
		}
		return l.LossyLinks(ctx, id, LossPercent(t.Seed))
	}
	if err := forEach(ctx, t.Nodes, act); err != nil {
		return heal, fmt.Errorf("%s: %w", f.name, err)
	}
	return heal, nil
}

// clockSkew offsets each target node's clock for the window, by the same
// seeded amount, and resets it on heal.
type clockSkew struct{}

func (clockSkew) Name() string          { return "clock-skew" }
func (clockSkew) DefaultSelect() string { return SelectRandom }

func (clockSkew) Available(env Env) error {
	c := env.clocks()
	if c == nil {
		return fmt.Errorf("%w: clock-skew: the cluster driver cannot set a node's clock (the reference broker can, through its fault endpoints)", ErrUnavailable)
	}
	if err := c.ClocksAvailable(); err != nil {
		return fmt.Errorf("%w: clock-skew: %w", ErrUnavailable, err)
	}
	return needNodes(env, "clock-skew", 1)
}

func (clockSkew) Describe(_ Env, t Target) string {
	return fmt.Sprintf("skew the clock of %s by %v", nodeList(t.Nodes), SkewOffset(t.Seed))
}

func (s clockSkew) Inject(ctx context.Context, env Env, t Target) (func(context.Context) error, error) {
	if len(t.Nodes) == 0 {
		return nil, fmt.Errorf("%w: clock-skew: empty target", ErrSelect)
	}
	c := env.clocks()
	if c == nil {
		return nil, s.Available(env)
	}
	heal := func(ctx context.Context) error { return forEach(ctx, t.Nodes, c.ResetClock) }
	offset := SkewOffset(t.Seed)
	err := forEach(ctx, t.Nodes, func(ctx context.Context, id int32) error { return c.SkewClock(ctx, id, offset) })
	if err != nil {
		return heal, fmt.Errorf("clock-skew: %w", err)
	}
	return heal, nil
}

// lostUnsynced kills every target at once on a cluster whose kill loses
// unsynced writes (power-loss semantics), and starts them all at once on
// heal: with all nodes down together no replica keeps the lost suffix.
type lostUnsynced struct{}

func (lostUnsynced) Name() string          { return "lost-unsynced" }
func (lostUnsynced) DefaultSelect() string { return SelectAll }

func (l lostUnsynced) Available(env Env) error {
	if env.Processes == nil {
		return fmt.Errorf("%w: lost-unsynced: needs process control", ErrUnavailable)
	}
	u := env.unsynced()
	if u == nil {
		return fmt.Errorf("%w: lost-unsynced: the cluster driver cannot make a kill lose unsynced writes (the reference broker can with highwater.fault.page.cache=true)", ErrUnavailable)
	}
	if err := u.UnsyncedLossAvailable(); err != nil {
		return fmt.Errorf("%w: lost-unsynced: %w", ErrUnavailable, err)
	}
	return needNodes(env, "lost-unsynced", 1)
}

func (lostUnsynced) Describe(_ Env, t Target) string {
	return "kill -9 at once, unsynced writes lost: " + t.Desc
}

func (l lostUnsynced) Inject(ctx context.Context, env Env, t Target) (func(context.Context) error, error) {
	if err := l.Available(env); err != nil {
		return nil, err
	}
	return processFault{name: l.Name(), act: Processes.Kill, undo: Processes.Start}.Inject(ctx, env, t)
}
