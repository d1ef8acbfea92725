package reports

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"time"

	"github.com/highwater-io/highwater/bench"
)

// BenchPage is everything the bench report shows; build it with
// NewBenchPage, or by hand from stored results.
type BenchPage struct {
	Title  string
	Report bench.Report
	// Curves are the produce-latency percentile curves per target (all
	// rounds merged), in the report's target order.
	Curves []TargetCurve
	// EndToEnd are the produce-to-consume curves, when measured.
	EndToEnd []TargetCurve
}

// TargetCurve is one target's latency percentile curve.
type TargetCurve struct {
	Target string                  `json:"target"`
	Points []bench.PercentilePoint `json:"points"`
}

// NewBenchPage builds the page for rep from the runs it summarises (their
// histograms give the latency curves).
func NewBenchPage(rep bench.Report, runs []bench.RunResult) BenchPage {
	page := BenchPage{Title: "highwater bench", Report: rep}
	page.Curves = mergedCurves(runs, func(r bench.RunResult) *bench.LatencyHist { return r.Produce.Hist })
	page.EndToEnd = mergedCurves(runs, func(r bench.RunResult) *bench.LatencyHist { return r.Consume.EndToEndHist })
	return page
}

// mergedCurves merges each target's histograms (as hist picks them from a
// run) over its successful runs, in the order targets first appear.
func mergedCurves(runs []bench.RunResult, hist func(bench.RunResult) *bench.LatencyHist) []TargetCurve {
	merged := map[string]*bench.LatencyHist{}
	var order []string
	for _, r := range runs {
		if !r.OK() || hist(r) == nil {
			continue
		}
		h, ok := merged[r.Target]
		if !ok {
			h = bench.NewLatencyHist()
			merged[r.Target] = h
			order = append(order, r.Target)
		}
		h.Merge(hist(r))
	}
	var out []TargetCurve
	for _, name := range order {
		out = append(out, TargetCurve{Target: name, Points: merged[name].PercentileCurve()})
	}
	return out
}

// targets is the report's target order (the summary's), so colours match
// between plots and tables.
func (p BenchPage) targets() []string {
	var out []string
	for _, s := range p.Report.Summary {
		out = append(out, s.Target)
	}
	for _, c := range p.Curves {
		if !slices.Contains(out, c.Target) {
			out = append(out, c.Target)
		}
	}
	return out
}

// WriteHTML renders the page.
func (p BenchPage) WriteHTML(w io.Writer) error {
	targets := p.targets()
	data := struct {
		BenchPage
		Started    string
		Workload   [][2]string
		Host       [][2]string
		Rows       []summaryRow
		Runs       []bench.ResultJSON
		Latency    template.HTML
		E2E        template.HTML
		Throughput template.HTML
		Colours    map[string]string
		HasE2E     bool
	}{
		BenchPage:  p,
		Started:    p.Report.StartedAt.UTC().Format(time.RFC3339),
		Workload:   workloadRows(p.Report.Workload),
		Host:       hostRows(p.Report.Host),
		Rows:       summaryRows(p.Report.Summary),
		Runs:       p.Report.Results,
		Latency:    latencyPlot("Produce latency by percentile (all rounds merged)", targets, p.Curves),
		Throughput: throughputPlot(targets, p.Report.Results, p.Report.Summary),
		Colours:    map[string]string{},
	}
	if len(p.EndToEnd) > 0 {
		data.E2E = latencyPlot("End-to-end latency by percentile", targets, p.EndToEnd)
	}
	for i, t := range targets {
		data.Colours[t] = colour(i)
	}
	for _, s := range p.Report.Summary {
		data.HasE2E = data.HasE2E || s.EndToEndP99Ms.N > 0
	}
	return benchTemplate.Execute(w, data)
}

func workloadRows(w bench.WorkloadJSON) [][2]string {
	amount := fmt.Sprintf("%d records", w.Records)
	if w.TestDurationSeconds > 0 {
		amount = fmt.Sprintf("%g s", w.TestDurationSeconds)
	}
	rate := "closed loop (as fast as the client's buffer allows)"
	if w.ProducerRate > 0 {
		rate = fmt.Sprintf("open loop at %.0f records/s (latency from the intended send time)", w.ProducerRate)
	}
	return [][2]string{
		{"records", fmt.Sprintf("%d B values, acks=%s, compression %s", w.MessageSize, w.Acks, w.CompressionType)},
		{"topic", fmt.Sprintf("%d partitions, replication factor %s", w.PartitionsPerTopic, rfText(w.ReplicationFactor))},
		{"producers", fmt.Sprintf("%d, batches up to %d B, linger %g ms", w.ProducersPerTopic, w.BatchMaxBytes, w.LingerMs)},
		{"load", rate},
		{"amount", fmt.Sprintf("%s, first %g s excluded as warm-up", amount, w.WarmupDurationSeconds)},
		{"consumers", fmt.Sprintf("%d%s", w.ConsumerPerSubscription, map[bool]string{true: ", alongside the producer (end-to-end latency)", false: ""}[w.EndToEnd])},
	}
}

func hostRows(h map[string]string) [][2]string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([][2]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, [2]string{k, h[k]})
	}
	return out
}

// summaryRow is one target's line of the summary and resource tables,
// already formatted.
type summaryRow struct {
	Target, Runs                                   string
	Produce, ProduceRecs, Consume, P99, E2E        string
	RSS, CPU, Written, Client                      string
	ProduceRatio, ConsumeRatio, RSSRatio, CPURatio string
	Error                                          string
}

func summaryRows(sums []bench.TargetSummary) []summaryRow {
	out := make([]summaryRow, 0, len(sums))
	for _, s := range sums {
		r := summaryRow{
			Target: s.Target, Runs: fmt.Sprint(s.Runs - s.Failed),
			Produce: spread(s.ProduceMBps, "%.1f"), ProduceRecs: spread(s.ProduceRecsPerSec, "%.0f"),
			Consume: spread(s.ConsumeMBps, "%.1f"), P99: spread(s.ProduceP99Ms, "%.2f"), E2E: spread(s.EndToEndP99Ms, "%.2f"),
			RSS: "–", CPU: "–", Written: "–", Client: spread(s.ClientCPUSeconds, "%.1f"),
			ProduceRatio: ratio(s.ProduceRatio), ConsumeRatio: ratio(s.ConsumeRatio),
			RSSRatio: ratio(s.RSSRatio), CPURatio: ratio(s.CPURatio), Error: s.FirstError,
		}
		if s.Failed > 0 {
			r.Runs += fmt.Sprintf(" (%d failed)", s.Failed)
		}
		if s.Measured {
			r.RSS = fmt.Sprintf("%.0f", float64(s.PeakRSSBytes)/(1<<20))
			r.CPU = spread(s.CPUSeconds, "%.1f")
			if s.WriteBytes.N > 0 {
				mib := bench.Spread{Median: s.WriteBytes.Median / (1 << 20), Min: s.WriteBytes.Min / (1 << 20), Max: s.WriteBytes.Max / (1 << 20), N: s.WriteBytes.N}
				r.Written = spread(mib, "%.0f")
			}
		}
		out = append(out, r)
	}
	return out
}

func spread(s bench.Spread, f string) string {
	switch s.N {
	case 0:
		return "–"
	case 1:
		return fmt.Sprintf(f, s.Median)
	}
	return fmt.Sprintf(f+" ("+f+"–"+f+")", s.Median, s.Min, s.Max)
}

func ratio(r float64) string {
	if r == 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", r)
}

// rfText is a workload's replication factor; 0 means each target chose
// min(3, its node count).
func rfText(rf int16) string {
	if rf <= 0 {
		return "min(3, nodes) per target"
	}
	return fmt.Sprint(rf)
}
