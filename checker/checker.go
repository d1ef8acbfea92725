package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/highwater-io/highwater/history"
)

// Checker checks one property of a history. Check never panics on bad
// input: a history it cannot judge gives an Unknown result with a Reason.
type Checker interface {
	Name() string
	Check(ctx context.Context, h *history.History) Result
}

// Validity is a checker's verdict. The zero value is Unknown, so a result
// nobody filled in can never pass for valid.
type Validity int8

const (
	Unknown Validity = iota
	Valid
	Invalid
)

func (v Validity) String() string {
	switch v {
	case Valid:
		return "valid"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}

// MarshalJSON encodes Valid as true, Invalid as false and Unknown as
// "unknown", as Jepsen does.
func (v Validity) MarshalJSON() ([]byte, error) {
	switch v {
	case Valid:
		return []byte("true"), nil
	case Invalid:
		return []byte("false"), nil
	}
	return []byte(`"unknown"`), nil
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (v *Validity) UnmarshalJSON(b []byte) error {
	switch strings.TrimSpace(string(b)) {
	case "true":
		*v = Valid
	case "false":
		*v = Invalid
	case `"unknown"`:
		*v = Unknown
	default:
		return fmt.Errorf("checker: bad validity %s", b)
	}
	return nil
}

// Combine folds verdicts: any Invalid wins (an anomaly found is found even
// if another check could not decide), then any Unknown, else Valid.
func Combine(vs ...Validity) Validity {
	out := Valid
	for _, v := range vs {
		switch {
		case v == Invalid:
			return Invalid
		case v == Unknown:
			out = Unknown
		}
	}
	return out
}

// OpRef points at one operation of the history.
type OpRef struct {
	Process       int          `json:"process"`
	F             history.F    `json:"f"`
	Type          history.Type `json:"type"`
	InvokeIndex   int64        `json:"invoke_index"`
	CompleteIndex int64        `json:"complete_index"` // -1: never completed
	InvokeTime    int64        `json:"invoke_time"`    // ns since start
	CompleteTime  int64        `json:"complete_time"`
}

func refOf(op *history.Op) OpRef {
	return OpRef{
		Process: op.Process, F: op.F, Type: op.Type(),
		InvokeIndex: op.Invoke.Index, CompleteIndex: op.Complete.Index,
		InvokeTime: op.Invoke.Time, CompleteTime: op.Complete.Time,
	}
}

func (r OpRef) String() string {
	return fmt.Sprintf("%s op#%d (process %d, %s, invoked %s, completed %s)",
		r.F, r.InvokeIndex, r.Process, r.Type, seconds(r.InvokeTime), seconds(r.CompleteTime))
}

func seconds(ns int64) string { return fmt.Sprintf("%.3fs", float64(ns)/1e9) }

// Anomaly is one violation with enough context to find it in the history.
type Anomaly struct {
	Type        string   `json:"type"`
	Topic       string   `json:"topic,omitempty"`
	Partition   int32    `json:"partition"`
	Values      []string `json:"values,omitempty"`
	Offsets     []int64  `json:"offsets,omitempty"`
	Ops         []OpRef  `json:"ops,omitempty"`
	Explanation string   `json:"explanation"`
	// Start and End bound the anomaly in time (ns since the history
	// started), when it spans one; zero otherwise.
	Start int64 `json:"start,omitempty"`
	End   int64 `json:"end,omitempty"`
	// Artifact is a file under the output directory that shows the
	// anomaly (porcupine's visualization), relative to it.
	Artifact string `json:"artifact,omitempty"`
}

// Result is one checker's verdict.
type Result struct {
	Checker string   `json:"checker"`
	Valid   Validity `json:"valid"`
	// Reason says why the verdict is Unknown (timeout, broken
	// precondition); empty otherwise.
	Reason string `json:"reason,omitempty"`
	// Counts holds the number of anomalies of each type found; Anomalies
	// lists at most MaxExamples of each.
	Counts    map[string]int `json:"counts,omitempty"`
	Anomalies []Anomaly      `json:"anomalies,omitempty"`
	// Findings are departures from the strictest model that the checker
	// judged allowed (documented broker behaviour, such as
	// stale-high-watermark-after-failover): shown, never fatal.
	Findings []Anomaly        `json:"findings,omitempty"`
	Stats    map[string]int64 `json:"stats,omitempty"`
}

// MaxExamples bounds how many anomalies of one type a Result lists.
const MaxExamples = 20

// collector gathers anomalies, counting all and keeping a few per type.
type collector struct {
	counts    map[string]int
	anomalies []Anomaly
}

func (c *collector) add(a Anomaly) {
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[a.Type]++
	if c.counts[a.Type] <= MaxExamples {
		c.anomalies = append(c.anomalies, a)
	}
}

// Run runs every checker over h and combines their results.
func Run(ctx context.Context, h *history.History, checkers ...Checker) Summary {
	s := Summary{
		Scenario: h.Header.Scenario, Seed: h.Header.Seed, Events: len(h.Events),
		Ops: len(h.Ops), Faults: len(h.Faults), Truncated: h.Truncated,
	}
	for _, op := range h.Ops {
		switch op.Type() {
		case history.TypeInfo:
			s.InfoOps++
		case history.TypeFail:
			s.FailOps++
		}
	}
	verdicts := make([]Validity, 0, len(checkers))
	for _, c := range checkers {
		r := c.Check(ctx, h)
		r.Checker = c.Name()
		s.Results = append(s.Results, r)
		verdicts = append(verdicts, r.Valid)
	}
	if len(checkers) == 0 {
		verdicts = append(verdicts, Unknown)
	}
	s.Valid = Combine(verdicts...)
	return s
}

// Summary is the combined verdict of a check run; it is what results.json
// holds.
type Summary struct {
	Valid     Validity `json:"valid"`
	Scenario  string   `json:"scenario"`
	Seed      int64    `json:"seed"`
	Events    int      `json:"events"`
	Ops       int      `json:"ops"`
	InfoOps   int      `json:"info_ops"`
	FailOps   int      `json:"fail_ops"`
	Faults    int      `json:"faults"`
	Truncated bool     `json:"truncated,omitempty"`
	Results   []Result `json:"results"`
}

// Text renders the summary for people: the verdict first, then each
// checker's line and its example anomalies.
func (s Summary) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s seed %d\n", s.Scenario, s.Seed)
	fmt.Fprintf(&b, "history: %d events, %d operations (%d info, %d fail), %d fault windows", s.Events, s.Ops, s.InfoOps, s.FailOps, s.Faults)
	if s.Truncated {
		b.WriteString(", last line truncated")
	}
	fmt.Fprintf(&b, "\nverdict: %s\n", strings.ToUpper(s.Valid.String()))
	for _, r := range s.Results {
		fmt.Fprintf(&b, "\n%-18s %s", r.Checker, r.Valid)
		if r.Reason != "" {
			fmt.Fprintf(&b, " (%s)", r.Reason)
		}
		b.WriteString("\n")
		types := make([]string, 0, len(r.Counts))
		for t := range r.Counts {
			types = append(types, t)
		}
		sort.Strings(types)
		for _, t := range types {
			fmt.Fprintf(&b, "  %-24s %d\n", t, r.Counts[t])
		}
		for _, a := range r.Anomalies {
			fmt.Fprintf(&b, "  - %s: %s", a.Type, a.Explanation)
			if a.Artifact != "" {
				fmt.Fprintf(&b, " [%s]", a.Artifact)
			}
			b.WriteString("\n")
		}
		if len(r.Findings) > 0 {
			fmt.Fprintf(&b, "  findings (allowed, not anomalies): %d\n", len(r.Findings))
		}
		for _, a := range r.Findings {
			fmt.Fprintf(&b, "  ~ %s: %s\n", a.Type, a.Explanation)
		}
	}
	return b.String()
}

// JSON renders the summary as indented JSON.
func (s Summary) JSON() ([]byte, error) {
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("checker: encode results: %w", err)
	}
	return append(out, '\n'), nil
}
