package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/highwater-io/highwater/checker"
	"github.com/highwater-io/highwater/history"
)

// RunReportFile is the report's name inside a run directory.
const RunReportFile = "report.html"

// RunMeta is what a run report shows about where the run came from: the
// fields of the harness's run.json that matter to a reader.
type RunMeta struct {
	Scenario string `json:"scenario"`
	Seed     int64  `json:"seed"`
	Commit   string `json:"commit,omitempty"`
	Start    string `json:"start,omitempty"`
	End      string `json:"end,omitempty"`
	Cluster  string `json:"cluster,omitempty"`
	Schedule string `json:"schedule,omitempty"`
	Replay   string `json:"replay,omitempty"`
	Recovery string `json:"recovery,omitempty"`
	Drain    string `json:"drain,omitempty"`
	// Converged and Drained are false when recovery or the final drain
	// did not finish: the run's verdict is then at best unknown.
	Converged *bool  `json:"converged,omitempty"`
	Drained   *bool  `json:"drained,omitempty"`
	Error     string `json:"error,omitempty"`
	// Unavailable lists faults the cluster could not run, and why.
	Unavailable map[string]string `json:"unavailable,omitempty"`
}

// RunPage is everything a run report is rendered from.
type RunPage struct {
	Meta    RunMeta
	Summary checker.Summary
	// History may be nil: the report then has no timeline.
	History *history.History
}

// WriteRunReport renders dir/report.html from what the run directory
// holds: results.json (required: run or re-run the check first), run.json
// and history.jsonl when present. It is the thin driver around RenderRun.
func WriteRunReport(dir string) error {
	var p RunPage
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if err := json.Unmarshal(b, &p.Summary); err != nil {
		return fmt.Errorf("reports: results.json: %w", err)
	}
	p.Meta = RunMeta{Scenario: p.Summary.Scenario, Seed: p.Summary.Seed}
	if b, err := os.ReadFile(filepath.Join(dir, "run.json")); err == nil {
		if err := json.Unmarshal(b, &p.Meta); err != nil {
			return fmt.Errorf("reports: run.json: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reports: %w", err)
	}
	if h, err := history.Load(filepath.Join(dir, "history.jsonl")); err == nil {
		p.History = h
	} else if !errors.Is(err, fs.ErrNotExist) {
		p.Meta.Error = strings.TrimSpace(p.Meta.Error + " (history not shown: " + err.Error() + ")")
	}
	var buf bytes.Buffer
	if err := RenderRun(&buf, p); err != nil {
		return err
	}
	tmp := filepath.Join(dir, RunReportFile+".tmp")
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, RunReportFile)); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	return nil
}

// runView is the template's data.
type runView struct {
	Title, Verdict, VerdictClass string
	Meta                         [][2]string
	Replay                       string
	Results                      []resultView
	Anomalies                    []anomalyView
	Findings                     []anomalyView
	Artifacts                    []string
	Throughput, Latency          template.HTML
	Faults                       []faultView
	Gaps                         []ackGap
	Notes                        []string
}

type resultView struct {
	Checker, Valid, Class, Reason, Counts, Stats string
	Findings                                     int
}

type anomalyView struct {
	Checker, Type, Where, Explanation, Artifact, Meaning string
	When                                                 string
}

type faultView struct {
	Fault, Description, Colour string
	Start, End                 string
}

// anomalyMeaning says in a line what each anomaly type means, for readers
// who have not read checker/doc.go.
var anomalyMeaning = map[string]string{
	checker.LostWrite:           "an acknowledged record was never read although later offsets were",
	checker.Unseen:              "an acknowledged record was not read even by the final drain",
	checker.InconsistentOffsets: "one offset held two different values",
	checker.Duplicate:           "one value appeared at two offsets",
	checker.PollSkip:            "a consumer skipped records between two polls",
	checker.NonmonotonicPoll:    "a consumer went back to records it had already passed",
	checker.IntPollSkip:         "a single poll skipped records",
	checker.IntNonmonotonicPoll: "a single poll went backwards",
	checker.NonmonotonicSend:    "a producer's later record landed before its earlier one",
	checker.IntNonmonotonicSend: "records of one send landed out of order",
	checker.Unexpected:          "a read returned a value nobody sent to this partition",
	checker.AbortedRead:         "a read returned a value whose send failed",
	checker.NotLinearizable:     "the partition's sends and reads admit no order consistent with an append-only log and real time",
	checker.StaleHighWatermark:  "allowed: a read's high watermark lagged an acknowledged offset while a new leader caught up (Kafka documents this); nothing was lost",
	// Transactional dependency cycles (checker.TxnCycles).
	checker.CycleG0Process:          "one process's later transaction wrote before its earlier one in a partition (a write-write cycle closed by process order)",
	checker.CycleG1cProcess:         "a dependency cycle with a read, closed by one process's order, that no interleaving of transactions allows",
	checker.CycleG0Realtime:         "a transaction invoked after another completed wrote before it in a partition (a write-write cycle closed by real time)",
	checker.CycleG1cRealtime:        "a dependency cycle with a read, closed by real time (one op completed before another began), that no interleaving allows",
	checker.CycleG0ProcessAllowed:   "allowed: a process-ordered write cycle among whole operations that interleaved, unisolated transactional writes explain",
	checker.CycleG1cProcessAllowed:  "allowed: a process-ordered dependency cycle among whole operations that interleaved, unisolated transactional writes explain",
	checker.CycleG0RealtimeAllowed:  "allowed: a realtime-ordered write cycle among whole operations that interleaved, unisolated transactional writes explain",
	checker.CycleG1cRealtimeAllowed: "allowed: a realtime-ordered dependency cycle among whole operations that interleaved, unisolated transactional writes explain",
}

// RenderRun writes a self-contained HTML report of one run.
func RenderRun(w io.Writer, p RunPage) error {
	v := runView{Title: fmt.Sprintf("highwater run %s seed %d", p.Meta.Scenario, p.Meta.Seed), Replay: p.Meta.Replay}
	// The run's verdict is recomputed, not read from run.json, so that a
	// re-check (highwater check) shows its own result.
	verdict := p.Summary.Valid
	if (p.Meta.Converged != nil && !*p.Meta.Converged) || (p.Meta.Drained != nil && !*p.Meta.Drained) || p.Meta.Error != "" {
		verdict = checker.Combine(verdict, checker.Unknown)
	}
	v.Verdict = verdict.String()
	v.VerdictClass = verdictClass(v.Verdict)
	v.Verdict = strings.ToUpper(v.Verdict)
	add := func(k, val string) {
		if val != "" {
			v.Meta = append(v.Meta, [2]string{k, val})
		}
	}
	add("cluster", p.Meta.Cluster)
	add("commit", p.Meta.Commit)
	add("started", p.Meta.Start)
	add("ended", p.Meta.End)
	add("schedule", p.Meta.Schedule)
	add("history", fmt.Sprintf("%d events, %d operations (%d info, %d fail), %d fault windows",
		p.Summary.Events, p.Summary.Ops, p.Summary.InfoOps, p.Summary.FailOps, p.Summary.Faults))
	add("checkers", strings.ToUpper(p.Summary.Valid.String()))
	add("faults unavailable", unavailable(p.Meta.Unavailable))
	if p.Meta.Recovery != "" {
		v.Notes = append(v.Notes, "recovery: "+p.Meta.Recovery)
	}
	if p.Meta.Drain != "" {
		v.Notes = append(v.Notes, "drain: "+p.Meta.Drain)
	}
	if p.Meta.Error != "" {
		v.Notes = append(v.Notes, "error: "+p.Meta.Error)
	}
	seen := map[string]bool{}
	for _, r := range p.Summary.Results {
		rv := resultView{Checker: r.Checker, Valid: r.Valid.String(), Class: verdictClass(r.Valid.String()), Reason: r.Reason, Findings: len(r.Findings)}
		var counts []string
		for _, t := range sortedKeys(r.Counts) {
			counts = append(counts, fmt.Sprintf("%s %d", t, r.Counts[t]))
		}
		rv.Counts = strings.Join(counts, ", ")
		var stats []string
		for _, k := range sortedKeys(r.Stats) {
			stats = append(stats, fmt.Sprintf("%s %d", k, r.Stats[k]))
		}
		rv.Stats = strings.Join(stats, ", ")
		v.Results = append(v.Results, rv)
		for _, a := range r.Anomalies {
			v.Anomalies = append(v.Anomalies, viewAnomaly(r.Checker, a))
			if a.Artifact != "" && !seen[a.Artifact] {
				seen[a.Artifact] = true
				v.Artifacts = append(v.Artifacts, filepath.ToSlash(a.Artifact))
			}
		}
		for _, a := range r.Findings {
			v.Findings = append(v.Findings, viewAnomaly(r.Checker, a))
		}
	}
	if p.History != nil {
		tl := buildTimeline(p.History, p.Summary)
		v.Throughput = throughputTimeline(tl)
		v.Latency = latencyTimeline(tl)
		for i, f := range tl.faults {
			v.Faults = append(v.Faults, faultView{Fault: f.name, Description: f.desc, Colour: faultColour(tl.faultNames, f.name),
				Start: secs(f.start), End: secs(f.end)})
			_ = i
		}
		v.Gaps = tl.gaps
	}
	if err := runTemplate.Execute(w, v); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	return nil
}

// unavailable groups the faults the cluster could not run by reason.
func unavailable(m map[string]string) string {
	byReason := map[string][]string{}
	for _, f := range sortedKeys(m) {
		r := m[f]
		// The harness prefixes each reason with the fault's name.
		if _, rest, ok := strings.Cut(r, f+": "); ok {
			r = rest
		}
		byReason[r] = append(byReason[r], f)
	}
	var parts []string
	for _, r := range sortedKeys(byReason) {
		parts = append(parts, strings.Join(byReason[r], ", ")+" ("+r+")")
	}
	return strings.Join(parts, "; ")
}

func viewAnomaly(chk string, a checker.Anomaly) anomalyView {
	where := a.Topic
	if where != "" {
		where = fmt.Sprintf("%s-%d", a.Topic, a.Partition)
	}
	av := anomalyView{Checker: chk, Type: a.Type, Where: where, Explanation: a.Explanation,
		Artifact: filepath.ToSlash(a.Artifact), Meaning: anomalyMeaning[a.Type]}
	switch {
	case a.End > a.Start:
		av.When = secs(a.Start) + "–" + secs(a.End)
	case len(a.Ops) > 0:
		av.When = secs(a.Ops[0].InvokeTime)
	}
	return av
}

func verdictClass(v string) string {
	switch strings.ToLower(v) {
	case "valid":
		return "ok"
	case "invalid":
		return "bad"
	}
	return "unk"
}

func secs(ns int64) string {
	return time.Duration(ns).Round(time.Millisecond).String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
