package await

import (
	"context"
	"time"
)

// Options says how Until paces and ends a wait.
type Options struct {
	// Interval is the pause between tries.
	Interval time.Duration
	// Attempt bounds each try; 0 leaves it bounded by ctx alone.
	Attempt time.Duration
	// Fatal, when set, runs at the start of each try; an error from it
	// ends the wait at once and is returned as is.
	Fatal func(ctx context.Context) error
	// TimedOut, when set, turns ready's last error into the error Until
	// returns once ctx ends; unset, that last error is returned.
	TimedOut func(last error) error
}

// Until calls ready until it returns nil, Fatal fails, or ctx ends (see
// the package doc for what each returns). It tries at least once, even
// with ctx already done.
func Until(ctx context.Context, o Options, ready func(ctx context.Context) error) error {
	for {
		last, fatal := o.try(ctx, ready)
		if fatal != nil {
			return fatal
		}
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if o.TimedOut == nil {
				return last
			}
			return o.TimedOut(last)
		case <-time.After(o.Interval):
		}
	}
}

// try runs one try under its own Attempt bound.
func (o Options) try(ctx context.Context, ready func(context.Context) error) (last, fatal error) {
	if o.Attempt > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Attempt)
		defer cancel()
	}
	if o.Fatal != nil {
		if err := o.Fatal(ctx); err != nil {
			return nil, err
		}
	}
	return ready(ctx), nil
}
