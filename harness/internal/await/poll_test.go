package await

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	errNotYet := errors.New("not yet")
	errDead := errors.New("node exited")
	errTimedOut := errors.New("timed out")
	for _, tc := range []struct {
		name     string
		readyAt  int // the try (1-based) from which ready succeeds; 0: never
		fatalAt  int // the try at which Fatal fails; 0: never
		timedOut bool
		want     error
		tries    int
	}{
		{name: "first try", readyAt: 1, want: nil, tries: 1},
		{name: "third try", readyAt: 3, want: nil, tries: 3},
		{name: "fatal before ready", readyAt: 3, fatalAt: 2, want: errDead, tries: 1},
		{name: "never, last error", want: errNotYet},
		{name: "never, TimedOut", timedOut: true, want: errTimedOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			tries, fatals := 0, 0
			o := Options{Interval: 10 * time.Millisecond, Attempt: time.Second,
				Fatal: func(context.Context) error {
					if fatals++; fatals == tc.fatalAt {
						return errDead
					}
					return nil
				}}
			var gotLast error
			if tc.timedOut {
				o.TimedOut = func(last error) error { gotLast = last; return errTimedOut }
			}
			err := Until(ctx, o, func(context.Context) error {
				if tries++; tc.readyAt > 0 && tries >= tc.readyAt {
					return nil
				}
				return fmt.Errorf("try %d: %w", tries, errNotYet)
			})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Until = %v, want %v", err, tc.want)
			}
			if tc.tries > 0 && tries != tc.tries {
				t.Errorf("%d tries, want %d", tries, tc.tries)
			}
			if tc.timedOut && !errors.Is(gotLast, errNotYet) {
				t.Errorf("TimedOut got %v, want ready's last error", gotLast)
			}
		})
	}
}

// TestUntilAttempt: each try runs under its own Attempt deadline, shorter
// than ctx's, and a done ctx still gets one try.
func TestUntilAttempt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Until(ctx, Options{Attempt: 50 * time.Millisecond}, func(ctx context.Context) error {
		dl, ok := ctx.Deadline()
		if !ok || time.Until(dl) > 50*time.Millisecond {
			return fmt.Errorf("deadline %v, %v", dl, ok)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	tries := 0
	err = Until(done, Options{Interval: time.Hour}, func(context.Context) error { tries++; return errors.New("no") })
	if err == nil || tries != 1 {
		t.Errorf("done ctx: Until = %v after %d tries, want an error after 1", err, tries)
	}
}
