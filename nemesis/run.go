package nemesis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/highwater-io/highwater/history"
)

// Recorder receives fault windows. *history.Writer implements it as is.
type Recorder interface {
	FaultStart(f history.Fault) (history.Event, error)
	FaultStop(f history.Fault) (history.Event, error)
}

// Run executes s in real time from now (step times are offsets from the
// call): for each step it waits until At, resolves the target, records the
// window's start, injects, waits until At+Duration, heals and records the
// window's stop. The window is recorded around the whole fault, so it
// covers every moment the fault may have been in effect. Window ids are
// the step's 1-based index in s.
//
// Skipped steps: a step whose fault is not Available in env, or whose
// selector resolves to nothing usable (no leader known, no such rack), is
// logged at warn level and not recorded: the history shows only faults
// that happened. Unavailable lists the unavailable faults up front for the
// report.
//
// Run always heals before it returns: the active fault's heal runs with a
// fresh context bounded by Env.HealTimeout even after ctx is cancelled or
// Inject fails, and Network.HealAll runs at the end when there is a
// Network. It returns ctx's error when cancelled, an error when the
// schedule names an unknown fault or does not validate (before anything
// runs), and an error when an injection, a heal or the recorder fails (the
// run's results cannot be trusted then); the first such error ends the run.
//
// Run owns no goroutine after it returns; faults may use short-lived ones
// (process faults act on all their nodes at once).
func Run(ctx context.Context, env Env, s Schedule, rec Recorder) (err error) {
	if err := s.Validate(); err != nil {
		return err
	}
	faults := make([]Fault, len(s.Steps))
	for i, st := range s.Steps {
		f, ok := Lookup(st.Fault)
		if !ok {
			return fmt.Errorf("%w: step %d: %q (known: %v)", ErrUnknownFault, i+1, st.Fault, Names())
		}
		faults[i] = f
	}
	// Each step draws its targets from its own source, derived from one
	// base seed and the step's time, so removing a step (shrinking) does
	// not change the targets of the others.
	base := SubSeed(s.Seed, "nemesis/targets")
	if env.Rand != nil {
		base = env.Rand.Int64()
	}
	if rec == nil {
		rec = nopRecorder{}
	}
	env.Logger = env.logger().With("seed", s.Seed)
	r := runner{env: env, rec: rec, start: time.Now(), base: base}
	for _, f := range faults {
		switch f.(type) {
		case linkFault:
			r.usedLinks = true
		case clockSkew:
			r.usedClocks = true
		}
	}
	defer func() { err = errors.Join(err, r.healAll(ctx)) }()
	for i, st := range s.Steps {
		if err := r.step(ctx, int64(i+1), st, faults[i]); err != nil {
			return err
		}
	}
	return nil
}

type runner struct {
	env   Env
	rec   Recorder
	start time.Time
	base  int64 // per-step target sources derive from it
	// usedLinks, usedClocks: the schedule degrades links or skews clocks,
	// so healAll restores them on every node too.
	usedLinks, usedClocks bool
	// lag is how far the schedule has slipped: a heal that overran (a
	// restart that took a minute on a loaded machine) pushes every later
	// step back by as much, so each fault still lasts its planned duration
	// and each quiet period its planned length, instead of the next steps
	// collapsing into back-to-back faults.
	lag time.Duration
}

// step runs one step; a nil error also covers a skipped step.
func (r *runner) step(ctx context.Context, window int64, st Step, f Fault) error {
	log := r.env.logger().With("window", window, "fault", f.Name())
	if err := sleepUntil(ctx, r.start.Add(st.At+r.lag)); err != nil {
		return err
	}
	defer func() {
		if over := time.Since(r.start) - (st.End() + r.lag); over > 0 {
			r.lag += over
			log.Info("nemesis: schedule slipped", "by", over.Round(time.Millisecond), "total", r.lag.Round(time.Millisecond))
		}
	}()
	if err := f.Available(r.env); err != nil {
		log.Warn("nemesis: skipped, unavailable", "err", err)
		return nil
	}
	sel := st.Select
	if sel == "" {
		sel = defaultSelect(f.Name())
	}
	rnd := NewRand(SubSeed(r.base, fmt.Sprintf("step@%d", st.At)))
	target, err := Resolve(ctx, r.env, sel, rnd)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn("nemesis: skipped, no target", "select", sel, "err", err)
		return nil
	}
	target.Seed = rnd.Int64()
	desc := target.Desc
	if d, ok := f.(Describer); ok {
		desc = d.Describe(r.env, target)
	}
	hf := history.Fault{Window: window, Fault: f.Name(), Description: desc, Targets: targetNames(target.Nodes)}
	if _, err := r.rec.FaultStart(hf); err != nil {
		return fmt.Errorf("nemesis: record start of window %d: %w", window, err)
	}
	log.Info("nemesis: inject", "target", desc)
	injected := time.Now()
	heal, injErr := f.Inject(ctx, r.env, target)
	var waitErr error
	if injErr == nil {
		// The fault lasts its planned duration from the moment it was
		// injected, however late that was.
		waitErr = sleepUntil(ctx, injected.Add(st.Duration))
	}
	healErr := r.heal(ctx, heal)
	_, recErr := r.rec.FaultStop(hf)
	log.Info("nemesis: healed", "target", desc, "err", healErr)
	if injErr != nil && errors.Is(injErr, ErrSelect) && healErr == nil && ctx.Err() == nil {
		log.Warn("nemesis: skipped, target unusable", "err", injErr)
		injErr = nil
	}
	if recErr != nil {
		recErr = fmt.Errorf("nemesis: record stop of window %d: %w", window, recErr)
	}
	if injErr != nil {
		injErr = fmt.Errorf("nemesis: window %d: inject: %w", window, injErr)
	}
	if healErr != nil {
		healErr = fmt.Errorf("nemesis: window %d: heal: %w", window, healErr)
	}
	return errors.Join(injErr, healErr, recErr, waitErr)
}

// heal runs h under a context that outlives ctx's cancellation.
func (r *runner) heal(ctx context.Context, h func(context.Context) error) error {
	if h == nil {
		return nil
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.env.healTimeout())
	defer cancel()
	return h(hctx)
}

// healAll is the last safety net: whatever a fault left cut, uncut it;
// whatever link or clock the schedule may have degraded, restore it on
// every node.
func (r *runner) healAll(ctx context.Context) error {
	var errs []error
	if r.env.Network != nil {
		if err := r.heal(ctx, r.env.Network.HealAll); err != nil {
			errs = append(errs, fmt.Errorf("nemesis: heal all links: %w", err))
		}
	}
	if l := r.env.links(); r.usedLinks && l != nil {
		if err := r.heal(ctx, func(ctx context.Context) error { return forEach(ctx, r.env.nodeIDs(), l.RestoreLinks) }); err != nil {
			errs = append(errs, fmt.Errorf("nemesis: restore all links: %w", err))
		}
	}
	if c := r.env.clocks(); r.usedClocks && c != nil {
		if err := r.heal(ctx, func(ctx context.Context) error { return forEach(ctx, r.env.nodeIDs(), c.ResetClock) }); err != nil {
			errs = append(errs, fmt.Errorf("nemesis: reset all clocks: %w", err))
		}
	}
	return errors.Join(errs...)
}

// sleepUntil waits for the wall clock to reach t or ctx to end.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// targetNames formats node ids as the history's target names ("n2").
func targetNames(ids []int32) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmt.Sprintf("n%d", id)
	}
	return out
}

type nopRecorder struct{}

func (nopRecorder) FaultStart(history.Fault) (history.Event, error) { return history.Event{}, nil }
func (nopRecorder) FaultStop(history.Fault) (history.Event, error)  { return history.Event{}, nil }
