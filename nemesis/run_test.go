package nemesis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/highwater-io/highwater/history"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// TestRunRecordsWindowsInOrder runs a short schedule into a real
// history.Writer and reads the windows back.
func TestRunRecordsWindowsInOrder(t *testing.T) {
	fc := newFake("a", "a", "b", "b", "c")
	fc.controller = 0
	var buf bytes.Buffer
	w, err := history.NewWriter(&buf, history.Header{Scenario: "nemesis-test", Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	s := Schedule{Seed: 9, Steps: []Step{
		{At: ms(1), Duration: ms(5), Fault: "kill", Select: "node:1"},
		{At: ms(10), Duration: ms(5), Fault: "partition-halves"},
		{At: ms(20), Duration: ms(5), Fault: "az-loss", Select: "rack:b"},
		{At: ms(30), Duration: ms(1), Fault: "partition-controller"},
	}}
	var rec Recorder = w // *history.Writer is a Recorder as is
	start := time.Now()
	if err := Run(context.Background(), fc.env(), s, rec); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < ms(31) {
		t.Errorf("Run took %s, before the last step's end", took)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fc.clean(); err != nil {
		t.Fatal(err)
	}
	h, err := history.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, win := range h.Faults {
		if win.StopIndex < 0 || win.StopTime < win.StartTime {
			t.Errorf("window %+v not closed", win)
		}
		got = append(got, fmt.Sprintf("%d %s %v", win.ID, win.Fault, win.Targets))
	}
	want := []string{"1 kill [n1]", "2 partition-halves " + fmt.Sprint(h.Faults[1].Targets), "3 az-loss [n2 n3]", "4 partition-controller [n0]"}
	if !slices.Equal(got, want) || len(h.Faults[1].Targets) != 2 {
		t.Errorf("windows %q, want %q", got, want)
	}
	for i := 1; i < len(h.Faults); i++ {
		if h.Faults[i].StartIndex < h.Faults[i-1].StopIndex {
			t.Errorf("window %d starts before %d stops", h.Faults[i].ID, h.Faults[i-1].ID)
		}
	}
	if !strings.Contains(h.Faults[0].Description, "kill -9") {
		t.Errorf("description %q", h.Faults[0].Description)
	}
	// The active-fault order of calls: kill before start, cut before heal.
	calls := fc.callLog()
	if i, j := slices.Index(calls, "kill 1"), slices.Index(calls, "start 1"); i < 0 || j < i {
		t.Errorf("calls %v", calls)
	}
}

// TestRunSameSeedSameTargets: the schedule's seed picks the targets when
// Env.Rand is nil.
func TestRunSameSeedSameTargets(t *testing.T) {
	s := Schedule{Seed: 5, Steps: []Step{
		{At: 0, Duration: ms(1), Fault: "kill"},
		{At: ms(2), Duration: ms(1), Fault: "partition-ring"},
		{At: ms(4), Duration: ms(1), Fault: "partition-bridge"},
	}}
	targets := func() []string {
		fc := newFake("a", "b", "c", "d", "e")
		env := fc.env()
		env.Rand = nil
		rec := &memRecorder{}
		if err := Run(context.Background(), env, s, rec); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range rec.faults {
			out = append(out, f.Description)
		}
		return out
	}
	a, b := targets(), targets()
	if !reflect.DeepEqual(a, b) || len(a) != 3 {
		t.Errorf("replays differ: %q vs %q", a, b)
	}
}

// TestRunCancelMidFaultHeals: cancelling while a fault is active heals it,
// records its stop and returns the context's error.
func TestRunCancelMidFaultHeals(t *testing.T) {
	for _, fault := range []string{"kill", "pause", "stop", "partition-node", "partition-ring", "az-loss", "az-cut"} {
		t.Run(fault, func(t *testing.T) {
			fc := newFake("a", "b", "c", "a", "b")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rec := &memRecorder{onStart: cancel}
			s := Schedule{Steps: []Step{
				{At: 0, Duration: time.Hour, Fault: fault},
				{At: 2 * time.Hour, Duration: time.Hour, Fault: "kill"},
			}}
			err := Run(ctx, fc.env(), s, rec)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run = %v, want context.Canceled", err)
			}
			if err := fc.clean(); err != nil {
				t.Fatal(err)
			}
			want := []string{"start 1 " + fault, "stop 1 " + fault}
			if !slices.Equal(rec.events, want) {
				t.Errorf("events %q, want %q", rec.events, want)
			}
			if calls := fc.callLog(); calls[len(calls)-1] != "healall" {
				t.Errorf("last call %q, want healall", calls[len(calls)-1])
			}
		})
	}
}

func TestRunCancelledBeforeAnyStep(t *testing.T) {
	fc := newFake("a", "b", "c")
	ctx, cancel := context.WithTimeout(context.Background(), ms(5))
	defer cancel()
	rec := &memRecorder{}
	err := Run(ctx, fc.env(), Schedule{Steps: []Step{{At: time.Hour, Duration: time.Second, Fault: "kill"}}}, rec)
	if !errors.Is(err, context.DeadlineExceeded) || len(rec.events) != 0 {
		t.Fatalf("Run = %v, events %v", err, rec.events)
	}
}

// TestRunSkipsUnavailable: without a Network the partition step is skipped
// (logged, not recorded) and the rest runs.
func TestRunSkipsUnavailable(t *testing.T) {
	fc := newFake("a", "b", "c")
	env := fc.env()
	env.Network = nil
	rec := &memRecorder{}
	s := Schedule{Steps: []Step{
		{At: 0, Duration: ms(1), Fault: "partition-node"},
		{At: ms(1), Duration: ms(1), Fault: "az-loss", Select: "rack:zz"}, // no such rack
		{At: ms(2), Duration: ms(1), Fault: "pause", Select: "node:2"},
	}}
	if err := Run(context.Background(), env, s, rec); err != nil {
		t.Fatal(err)
	}
	if want := []string{"start 3 pause", "stop 3 pause"}; !slices.Equal(rec.events, want) {
		t.Errorf("events %q, want %q", rec.events, want)
	}
	if err := fc.clean(); err != nil {
		t.Fatal(err)
	}
}

func TestRunInjectErrorHealsAndFails(t *testing.T) {
	fc := newFake("a", "b", "c")
	boom := errors.New("boom")
	fc.failOn["cut 0 2"] = boom
	rec := &memRecorder{}
	s := Schedule{Steps: []Step{
		{At: 0, Duration: time.Hour, Fault: "partition-node", Select: "node:0"},
		{At: 2 * time.Hour, Duration: time.Hour, Fault: "kill"},
	}}
	err := Run(context.Background(), fc.env(), s, rec)
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want boom", err)
	}
	if err := fc.clean(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"start 1 partition-node", "stop 1 partition-node"}; !slices.Equal(rec.events, want) {
		t.Errorf("events %q", rec.events)
	}
}

func TestRunRejectsBadSchedules(t *testing.T) {
	fc := newFake("a", "b", "c")
	for _, s := range []Schedule{
		{Steps: []Step{{Fault: "no-such-fault"}}},
		{Steps: []Step{{At: time.Second, Duration: time.Second, Fault: "kill"}, {At: 0, Fault: "kill"}}},
	} {
		if err := Run(context.Background(), fc.env(), s, nil); err == nil {
			t.Errorf("Run(%+v) = nil", s)
		}
	}
	if len(fc.callLog()) != 0 {
		t.Errorf("a rejected schedule touched the cluster: %v", fc.callLog())
	}
}

// TestRunShrunkKeepsTargets: removing a step does not change which nodes
// the remaining steps pick.
func TestRunShrunkKeepsTargets(t *testing.T) {
	s := Schedule{Seed: 11, Steps: []Step{
		{At: 0, Duration: ms(1), Fault: "kill"},
		{At: ms(1), Duration: ms(1), Fault: "partition-halves"},
		{At: ms(2), Duration: ms(1), Fault: "partition-bridge"},
	}}
	descs := func(s Schedule) map[string]string {
		fc := newFake("a", "b", "c", "d", "e")
		env := fc.env()
		rec := &memRecorder{}
		if err := Run(context.Background(), env, s, rec); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, f := range rec.faults {
			out[f.Fault] = f.Description
		}
		return out
	}
	full := descs(s)
	for _, sh := range s.Shrinks()[:3] {
		for name, d := range descs(sh) {
			if full[name] != d {
				t.Errorf("%s: %q in the shrunk run, %q in the full one", name, d, full[name])
			}
		}
	}
}

func TestRunnable(t *testing.T) {
	env := newFake("a", "b", "c").env()
	env.Network = nil
	ok, not := Runnable(env, []string{"kill", "partition-ring", "bogus", "pause"})
	if !slices.Equal(ok, []string{"kill", "pause"}) || len(not) != 2 ||
		!errors.Is(not["partition-ring"], ErrUnavailable) || !errors.Is(not["bogus"], ErrUnknownFault) {
		t.Errorf("Runnable = %v, %v", ok, not)
	}
}

// A heal that overruns into the next step's slot pushes the rest of the
// schedule back: the next fault still lasts its planned duration instead of
// being healed as soon as it is injected.
func TestRunSlowHealShiftsLaterSteps(t *testing.T) {
	fc := newFake("a", "b", "c")
	fc.startDelay = ms(60) // healing the kill takes 60 ms
	var buf bytes.Buffer
	w, err := history.NewWriter(&buf, history.Header{Scenario: "nemesis-test", Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	s := Schedule{Seed: 3, Steps: []Step{
		{At: ms(1), Duration: ms(5), Fault: "kill", Select: "node:1"},
		{At: ms(20), Duration: ms(40), Fault: "pause", Select: "node:2"},
	}}
	if err := Run(context.Background(), fc.env(), s, w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := history.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Faults) != 2 {
		t.Fatalf("%d windows, want 2", len(h.Faults))
	}
	pause := h.Faults[1]
	if d := time.Duration(pause.StopTime - pause.StartTime); d < ms(40) {
		t.Errorf("pause lasted %v after a slow heal, want its planned 40ms", d)
	}
	if gap := time.Duration(pause.StartTime - h.Faults[0].StopTime); gap < ms(10) {
		t.Errorf("quiet period %v after the slow heal, want about the planned 14ms", gap)
	}
}
