package nemesis

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestGenerateDeterministicAndHealsBeforeTotal(t *testing.T) {
	faults := Names()
	for seed := int64(-3); seed < 40; seed++ {
		total := time.Duration(seed+4) * 7 * time.Second
		a := Generate(seed, faults, total, 5*time.Second, 10*time.Second)
		b := Generate(seed, faults, total, 5*time.Second, 10*time.Second)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: two different schedules:\n%s\n%s", seed, a, b)
		}
		if a.Seed != seed {
			t.Errorf("seed %d: schedule seed %d", seed, a.Seed)
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, a)
		}
		for _, st := range a.Steps {
			if st.End() > total {
				t.Errorf("seed %d: %+v heals after total %s", seed, st, total)
			}
			if st.Duration <= 0 || st.Select == "" {
				t.Errorf("seed %d: step %+v", seed, st)
			}
			if _, ok := Lookup(st.Fault); !ok {
				t.Errorf("seed %d: unknown fault %q", seed, st.Fault)
			}
		}
	}
	long := Generate(1, faults, time.Hour, 10*time.Second, 20*time.Second)
	if len(long.Steps) < 50 {
		t.Errorf("an hour with 30s cycles has only %d steps", len(long.Steps))
	}
	if reflect.DeepEqual(long, Generate(2, faults, time.Hour, 10*time.Second, 20*time.Second)) {
		t.Error("seeds 1 and 2 give the same schedule")
	}
	seen := map[string]bool{}
	for _, st := range long.Steps {
		seen[st.Fault] = true
	}
	if len(seen) != len(faults) {
		t.Errorf("an hour used only %d of %d faults", len(seen), len(faults))
	}
}

func TestGenerateDegenerateInputs(t *testing.T) {
	for _, tc := range []struct {
		faults                  []string
		total, quiet, meanFault time.Duration
	}{
		{nil, time.Minute, time.Second, time.Second},
		{[]string{"kill"}, 0, time.Second, time.Second},
		{[]string{"kill"}, -time.Minute, time.Second, time.Second},
		{[]string{"kill"}, time.Minute, time.Second, 0},
		{[]string{"kill"}, time.Minute, -time.Second, time.Second},
		{[]string{"kill"}, time.Minute, time.Hour, time.Hour},
		{[]string{"kill"}, 1<<63 - 1, 1<<63 - 1, 1<<63 - 1},
		{[]string{"kill"}, 10, 1, 1},
	} {
		s := Generate(7, tc.faults, tc.total, tc.quiet, tc.meanFault)
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", tc, err)
		}
		for _, st := range s.Steps {
			if st.End() > tc.total {
				t.Errorf("%+v: step %+v ends after total", tc, st)
			}
		}
	}
}

func TestScheduleText(t *testing.T) {
	s := Schedule{Seed: -42, Steps: []Step{
		{At: 1500 * time.Millisecond, Duration: 20 * time.Second, Fault: "kill", Select: "random"},
		{At: time.Minute, Duration: 3 * time.Second, Fault: "partition-leader", Select: "leader:orders/0"},
		{At: 2 * time.Minute, Duration: time.Second, Fault: "az-cut", Select: "rack:us east 1"},
		{At: 3 * time.Minute, Duration: time.Second, Fault: "pause"},
	}}
	want := "seed -42\nat 1.5s for 20s kill random\nat 1m0s for 3s partition-leader leader:orders/0\n" +
		"at 2m0s for 1s az-cut rack:us east 1\nat 3m0s for 1s pause\n"
	if got := s.String(); got != want {
		t.Fatalf("String:\n%s\nwant:\n%s", got, want)
	}
	for _, text := range []string{want, s.Compact(), "# replay\n\n  " + strings.ReplaceAll(want, "\n", "  \n  ")} {
		got, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("Parse(%q) = %+v, want %+v", text, got, s)
		}
	}
	if got, err := Parse(""); err != nil || !reflect.DeepEqual(got, Schedule{}) {
		t.Errorf("Parse(\"\") = %+v, %v", got, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, text := range []string{
		"seed x",
		"seed 1\nseed 2",
		"seed 1 2",
		"at 1s for 2s",
		"at 1s during 2s kill",
		"at x for 2s kill",
		"at 1s for y kill",
		"at -1s for 2s kill",
		"at 1s for -2s kill",
		"at 1s for 2s k!ll",
		"kill at 1s",
		"at 1s for 2s kill node:1\x01",
	} {
		if s, err := Parse(text); !errors.Is(err, ErrSchedule) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrSchedule", text, s, err)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Schedule{Steps: []Step{{At: 0, Duration: time.Second, Fault: "kill"}, {At: time.Second, Duration: 0, Fault: "kill"}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("back-to-back steps: %v", err)
	}
	for _, s := range []Schedule{
		{Steps: []Step{{At: 0, Duration: 2 * time.Second, Fault: "kill"}, {At: time.Second, Duration: time.Second, Fault: "kill"}}},
		{Steps: []Step{{At: 2 * time.Second, Fault: "kill"}, {At: time.Second, Fault: "kill"}}},
		{Steps: []Step{{At: 1, Duration: 1<<63 - 1, Fault: "kill"}}},
		{Steps: []Step{{Fault: ""}}},
		{Steps: []Step{{Fault: "kill", Select: " random"}}},
		{Steps: []Step{{Fault: "kill", Select: "a;b"}}},
	} {
		if err := s.Validate(); !errors.Is(err, ErrSchedule) {
			t.Errorf("Validate(%+v) = %v; want ErrSchedule", s, err)
		}
	}
}

// TestScheduleRoundTrip: Parse(String(s)) and Parse(Compact(s)) give s back
// for any valid schedule.
func TestScheduleRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := Schedule{Seed: rapid.Int64().Draw(t, "seed")}
		n := rapid.IntRange(0, 8).Draw(t, "steps")
		for i := range n {
			st := Step{
				At:       time.Duration(rapid.Int64Range(0, 1<<62).Draw(t, "at")),
				Duration: time.Duration(rapid.Int64Range(0, 1<<62).Draw(t, "dur")),
				Fault:    rapid.StringMatching(`[a-zA-Z0-9._-]{1,20}`).Draw(t, "fault"),
				Select:   rapid.StringMatching(`([^;\s\p{C}]([^;\p{C}\t\n\v\f\r\x85\xa0]{0,20}[^;\s\p{C}])?)?`).Draw(t, "select"),
			}
			if !validSelect(st.Select) {
				t.Skipf("generator made an invalid selector %q", st.Select)
			}
			_ = i
			s.Steps = append(s.Steps, st)
		}
		for _, text := range []string{s.String(), s.Compact()} {
			got, err := Parse(text)
			if err != nil {
				t.Fatalf("Parse(%q): %v", text, err)
			}
			if !reflect.DeepEqual(got, s) {
				t.Fatalf("Parse(%q) = %+v, want %+v", text, got, s)
			}
		}
	})
}

// FuzzParse: Parse never panics, and whatever it accepts prints and parses
// back to the same schedule.
func FuzzParse(f *testing.F) {
	f.Add("seed 1\nat 1s for 2s kill random\n")
	f.Add("seed -5; at 0s for 1ns partition-leader leader:orders/0; at 1m0s for 3s az-cut rack:a b")
	f.Add("# c\n\nat 1h for 1ms pause")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse(text)
		if err != nil {
			return
		}
		again, err := Parse(s.String())
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("Parse(%q) = %+v; its String %q parses to %+v, %v", text, s, s.String(), again, err)
		}
	})
}

func TestShrinks(t *testing.T) {
	s := Schedule{Seed: 3, Steps: []Step{
		{At: 0, Duration: 4 * time.Second, Fault: "kill"},
		{At: 10 * time.Second, Duration: 1, Fault: "pause"},
	}}
	got := s.Shrinks()
	want := []Schedule{
		{Seed: 3, Steps: []Step{s.Steps[1]}},
		{Seed: 3, Steps: []Step{s.Steps[0]}},
		{Seed: 3, Steps: []Step{{At: 0, Duration: 2 * time.Second, Fault: "kill"}, s.Steps[1]}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Shrinks = %+v, want %+v", got, want)
	}
	for _, sh := range got {
		if err := sh.Validate(); err != nil {
			t.Error(err)
		}
	}
	if s.Steps[0].Duration != 4*time.Second {
		t.Error("Shrinks changed the original")
	}
	if got := (Schedule{Seed: 1, Steps: []Step{{Fault: "kill"}}}).Shrinks(); !reflect.DeepEqual(got, []Schedule{{Seed: 1}}) {
		t.Errorf("one zero-length step: %+v", got)
	}
}
