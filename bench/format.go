package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// ProducerLine is kafka-producer-perf-test's closing line for r, with
// fractional milliseconds (loopback latencies are often below one).
func ProducerLine(r ProduceResult) string {
	l := r.Latency
	return fmt.Sprintf("%d records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, %.2f ms 50th, %.2f ms 95th, %.2f ms 99th, %.2f ms 99.9th.",
		r.Records, r.RecordsPerSec, r.MBPerSec, l.AvgMs, l.MaxMs, l.P50Ms, l.P95Ms, l.P99Ms, l.P999Ms)
}

// ConsumerLine is the consumer's equivalent, with the end-to-end latency
// figures when they were measured.
func ConsumerLine(r ConsumeResult) string {
	line := fmt.Sprintf("%d records consumed, %.1f records/sec (%.2f MB/sec), %.2f MB in %.2f s, %.1f ms to first record.",
		r.Records, r.RecordsPerSec, r.MBPerSec, float64(r.Bytes)/bytesPerMB, r.Seconds, r.FirstRecordMs)
	if r.Group != "" {
		line += fmt.Sprintf(" Group of %d joined in %.1f ms (excluded), records per member %v.", len(r.Members), r.JoinMs, r.Members)
	}
	if l := r.EndToEnd; l.Count > 0 {
		line += fmt.Sprintf(" End to end: %.2f ms avg latency, %.2f ms max latency, %.2f ms 50th, %.2f ms 95th, %.2f ms 99th, %.2f ms 99.9th.",
			l.AvgMs, l.MaxMs, l.P50Ms, l.P95Ms, l.P99Ms, l.P999Ms)
	}
	return line
}

// WriteTable prints the comparison: one row per target with medians, the
// min–max spread and ratios to the first target.
func WriteTable(w io.Writer, sums []TargetSummary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	e2e := false
	for _, s := range sums {
		e2e = e2e || s.EndToEndP99Ms.N > 0
	}
	e2eHead := ""
	if e2e {
		e2eHead = "\te2e p99 ms"
	}
	fmt.Fprintln(tw, "target\truns\tproduce MB/s (min–max)\tconsume MB/s (min–max)\tproduce p99 ms"+e2eHead+"\tpeak RSS MiB\tbroker CPU s\twritten MiB\tclient CPU s\tproduce ×\tconsume ×\tRSS ×\tCPU ×")
	for _, s := range sums {
		runs := fmt.Sprintf("%d", s.Runs-s.Failed)
		if s.Failed > 0 {
			runs = fmt.Sprintf("%d (%d failed)", s.Runs-s.Failed, s.Failed)
		}
		rss, cpu, written := "-", "-", "-"
		if s.Measured {
			rss = fmt.Sprintf("%.0f", float64(s.PeakRSSBytes)/bytesPerMB)
			cpu = fmt.Sprintf("%.1f", s.CPUSeconds.Median)
			if s.WriteBytes.N > 0 {
				written = fmt.Sprintf("%.0f", s.WriteBytes.Median/bytesPerMB)
			}
		}
		e2eCell := ""
		if e2e {
			e2eCell = "\t" + spread(s.EndToEndP99Ms, "%.1f")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\n",
			s.Target, runs, spread(s.ProduceMBps, "%.1f"), spread(s.ConsumeMBps, "%.1f"),
			spread(s.ProduceP99Ms, "%.1f"), e2eCell, rss, cpu, written, s.ClientCPUSeconds.Median,
			ratioText(s.ProduceRatio), ratioText(s.ConsumeRatio), ratioText(s.RSSRatio), ratioText(s.CPURatio))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var errs []string
	for _, s := range sums {
		if s.FirstError != "" {
			errs = append(errs, fmt.Sprintf("%s: %s", s.Target, s.FirstError))
		}
	}
	if len(errs) > 0 {
		_, err := fmt.Fprintf(w, "failures:\n  %s\n", strings.Join(errs, "\n  "))
		return err
	}
	return nil
}

func spread(s Spread, f string) string {
	if s.N == 0 {
		return "-"
	}
	if s.N == 1 {
		return fmt.Sprintf(f, s.Median)
	}
	return fmt.Sprintf(f+" ("+f+"–"+f+")", s.Median, s.Min, s.Max)
}

func ratioText(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", r)
}

// WriteCapacity prints a capacity search: every probe with its verdict,
// then the sustainable rate per broker and per core.
func WriteCapacity(w io.Writer, r CapacityResult) {
	if r.ClosedLoop != nil {
		fmt.Fprintf(w, "closed loop: %s\n", ProducerLine(*r.ClosedLoop))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "offered rec/s\tsent rec/s\tsent/requested\tMB/s\tp99 ms\tbroker cores\tverdict")
	for _, p := range r.Probes {
		cores := "-"
		if p.Measured && p.WallSeconds > 0 {
			cores = fmt.Sprintf("%.2f", p.BrokerCPUSeconds/p.WallSeconds)
		}
		fmt.Fprintf(tw, "%.0f\t%.0f\t%.4f\t%.1f\t%.1f\t%s\t%s\n", p.RatePerSec, p.SentPerSec, p.SentRatio, p.MBPerSec, p.P99Ms, cores, verdict(p))
	}
	_ = tw.Flush()
	if !r.Found {
		fmt.Fprintf(w, "no sustainable rate found: %s\n", r.LimitedBy)
		return
	}
	fmt.Fprintf(w, "sustainable on %s: %.0f records/s (%.2f MB/s), p99 %.1f ms; %d broker(s): %.0f records/s (%.2f MB/s) per broker",
		r.Target, r.RecordsPerSec, r.MBPerSec, r.P99Ms, r.Brokers, r.RecordsPerSecPerBroker, r.MBPerSecPerBroker)
	if r.CoresUsed > 0 {
		fmt.Fprintf(w, "; %.2f cores busy: %.0f records/s (%.2f MB/s) per core", r.CoresUsed, r.RecordsPerSecPerCore, r.MBPerSecPerCore)
	}
	fmt.Fprintln(w)
	if r.ConsumeMBPerSec > 0 {
		fmt.Fprintf(w, "read back at %.2f MB/s\n", r.ConsumeMBPerSec)
	}
	if r.LimitedBy != "" {
		fmt.Fprintf(w, "limited by: %s\n", r.LimitedBy)
	}
}
