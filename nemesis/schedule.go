package nemesis

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Step is one fault window of a schedule: at At after the run starts,
// inject Fault on the target Select resolves to (empty: the fault's
// default), and heal it Duration after At.
type Step struct {
	At, Duration time.Duration
	Fault        string
	Select       string
}

// End is when the step's fault is due to heal.
func (s Step) End() time.Duration { return s.At + s.Duration }

// Schedule is a seeded list of steps in time order, at most one fault
// active at a time. Seed also seeds target selection when the runner is not
// given its own random source.
type Schedule struct {
	Seed  int64
	Steps []Step
}

// Generate mixes faults (names, chosen uniformly) with quiet periods from
// seed: quiet, fault, quiet, fault, ... Each quiet period and fault lasts
// between half and one and a half times its mean. Every step ends (its
// fault is due to heal) at or before total; no step starts when the next
// quiet period and fault would not fit. The same arguments always give the
// same schedule. Each step's Select is the fault's default selector.
func Generate(seed int64, faults []string, total, meanQuiet, meanFault time.Duration) Schedule {
	s := Schedule{Seed: seed}
	if len(faults) == 0 || total <= 0 || meanFault <= 0 {
		return s
	}
	meanQuiet = min(max(meanQuiet, 0), total)
	meanFault = min(meanFault, total)
	rnd := NewRand(SubSeed(seed, "nemesis/generate"))
	var t time.Duration
	for {
		quiet := spread(rnd.Int64N, meanQuiet)
		dur := max(spread(rnd.Int64N, meanFault), 1)
		name := faults[rnd.IntN(len(faults))]
		if quiet > total-t || dur > total-t-quiet {
			return s
		}
		at := t + quiet
		s.Steps = append(s.Steps, Step{At: at, Duration: dur, Fault: name, Select: defaultSelect(name)})
		t = at + dur
	}
}

// spread draws a duration uniformly from [mean/2, 3*mean/2), rounded to the
// millisecond when mean is a second or more so schedules read well.
func spread(int64n func(int64) int64, mean time.Duration) time.Duration {
	if mean <= 0 {
		return 0
	}
	d := mean/2 + time.Duration(int64n(int64(mean)))
	if mean >= time.Second {
		d = d.Truncate(time.Millisecond)
	}
	return d
}

func defaultSelect(fault string) string {
	if f, ok := Lookup(fault); ok {
		if d, ok := f.(DefaultSelector); ok {
			return d.DefaultSelect()
		}
	}
	return SelectRandom
}

// String prints the schedule one line per step, after a seed line:
//
//	seed 42
//	at 12.5s for 20s kill random
//	at 40s for 15s partition-leader leader:orders/0
//
// Parse reads it back to an identical Schedule.
func (s Schedule) String() string { return s.format("\n") + "\n" }

// Compact prints the schedule on one line, steps separated by "; ", for a
// replay command line; Parse reads it back too.
func (s Schedule) Compact() string { return s.format("; ") }

func (s Schedule) format(sep string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d", s.Seed)
	for _, st := range s.Steps {
		b.WriteString(sep)
		fmt.Fprintf(&b, "at %s for %s %s", st.At, st.Duration, st.Fault)
		if st.Select != "" {
			b.WriteString(" " + st.Select)
		}
	}
	return b.String()
}

// Parse reads a schedule written by String or Compact. Lines (or
// ';'-separated parts) that are blank or start with '#' are ignored; the
// seed line is optional (seed 0) and at most one. Parse checks syntax and
// each step alone; Validate checks the steps together.
func Parse(text string) (Schedule, error) {
	var s Schedule
	seenSeed := false
	lines := strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == ';' })
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch f[0] {
		case "seed":
			if seenSeed || len(f) != 2 {
				return Schedule{}, fmt.Errorf("%w: part %d %q: want one \"seed N\"", ErrSchedule, i+1, line)
			}
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return Schedule{}, fmt.Errorf("%w: part %d: seed: %w", ErrSchedule, i+1, err)
			}
			s.Seed, seenSeed = n, true
		case "at":
			st, err := parseStep(line, f)
			if err != nil {
				return Schedule{}, fmt.Errorf("%w: part %d %q: %w", ErrSchedule, i+1, line, err)
			}
			s.Steps = append(s.Steps, st)
		default:
			return Schedule{}, fmt.Errorf("%w: part %d %q: want \"seed N\" or \"at D for D FAULT [SELECT]\"", ErrSchedule, i+1, line)
		}
	}
	return s, nil
}

// parseStep parses "at D for D FAULT [SELECT]"; SELECT is the rest of the
// line, spaces included.
func parseStep(line string, f []string) (Step, error) {
	if len(f) < 5 || f[2] != "for" {
		return Step{}, fmt.Errorf("want \"at D for D FAULT [SELECT]\"")
	}
	at, err := time.ParseDuration(f[1])
	if err != nil {
		return Step{}, err
	}
	dur, err := time.ParseDuration(f[3])
	if err != nil {
		return Step{}, err
	}
	st := Step{At: at, Duration: dur, Fault: f[4]}
	rest := line
	for range 5 {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		rest = strings.TrimLeftFunc(rest, func(r rune) bool { return !unicode.IsSpace(r) })
	}
	st.Select = strings.TrimSpace(rest)
	return st, st.validate()
}

func (st Step) validate() error {
	if st.At < 0 || st.Duration < 0 {
		return fmt.Errorf("negative time: at %s for %s", st.At, st.Duration)
	}
	if !validName(st.Fault) {
		return fmt.Errorf("fault name %q: want letters, digits, '-', '_' or '.'", st.Fault)
	}
	if !validSelect(st.Select) {
		return fmt.Errorf("selector %q: want printable text without ';', not starting or ending in a space", st.Select)
	}
	return nil
}

// Validate checks every step and that the steps are in time order without
// overlap (at most one fault active at a time).
func (s Schedule) Validate() error {
	var end time.Duration
	for i, st := range s.Steps {
		if err := st.validate(); err != nil {
			return fmt.Errorf("%w: step %d: %w", ErrSchedule, i+1, err)
		}
		if st.At < end {
			return fmt.Errorf("%w: step %d starts at %s, before the previous step heals at %s", ErrSchedule, i+1, st.At, end)
		}
		if st.Duration > time.Duration(1<<63-1)-st.At {
			return fmt.Errorf("%w: step %d: at %s for %s overflows", ErrSchedule, i+1, st.At, st.Duration)
		}
		end = st.End()
	}
	return nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func validSelect(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for _, r := range s {
		if r == ';' || !unicode.IsPrint(r) || (unicode.IsSpace(r) && r != ' ') {
			return false
		}
	}
	return true
}

// Shrinks returns smaller variants of s for replaying a failing run with
// less: each with one step removed, then each with one step's fault half
// as long. Times of the other steps stay as they were, so a variant still
// validates. The seed is kept, and Run draws each step's targets from its
// own time and the seed, so the remaining steps pick the same targets.
func (s Schedule) Shrinks() []Schedule {
	var out []Schedule
	for i := range s.Steps {
		steps := slices.Delete(slices.Clone(s.Steps), i, i+1)
		if len(steps) == 0 {
			steps = nil
		}
		out = append(out, Schedule{Seed: s.Seed, Steps: steps})
	}
	for i, st := range s.Steps {
		if st.Duration < 2 {
			continue
		}
		steps := slices.Clone(s.Steps)
		steps[i].Duration = st.Duration / 2
		out = append(out, Schedule{Seed: s.Seed, Steps: steps})
	}
	return out
}
