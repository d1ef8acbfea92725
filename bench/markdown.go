package bench

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown is the comparison as a Markdown report: the workload, one
// table row per target (medians, min–max spreads, resources, ratios to the
// first target), the per-run producer lines and any failures — for pasting
// into an issue, a pull request or a wiki page.
func (rep Report) WriteMarkdown(w io.Writer) error {
	host := rep.Host
	var b strings.Builder
	wl := rep.Workload
	fmt.Fprintf(&b, "# highwater bench\n\n")
	fmt.Fprintf(&b, "Started %s. Workload: %d B records, acks=%s, compression %s, %d partitions, RF %d, batch %d B, linger %.0f ms, %d producer(s), %d consumer(s)",
		rep.StartedAt.Format("2006-01-02 15:04:05 MST"), wl.MessageSize, wl.Acks, wl.CompressionType, wl.PartitionsPerTopic,
		wl.ReplicationFactor, wl.BatchMaxBytes, wl.LingerMs, wl.ProducersPerTopic, wl.ConsumerPerSubscription)
	switch {
	case wl.ProducerRate > 0:
		fmt.Fprintf(&b, ", open loop at %.0f records/s", wl.ProducerRate)
	default:
		b.WriteString(", closed loop")
	}
	if wl.TestDurationSeconds > 0 {
		fmt.Fprintf(&b, " for %.0f s", wl.TestDurationSeconds)
	} else if wl.Records > 0 {
		fmt.Fprintf(&b, ", %d records", wl.Records)
	}
	fmt.Fprintf(&b, ", warm-up %.0f s excluded.\n\n", wl.WarmupDurationSeconds)
	if len(host) > 0 {
		fmt.Fprintf(&b, "Host: %s, %s CPUs, load average %s at start and %s at end.\n\n",
			cmpOr(host["cpuModel"], host["os"]), host["cpus"], host["loadavgStart"], host["loadavgEnd"])
	}
	b.WriteString("| target | runs | produce MB/s (min–max) | consume MB/s (min–max) | produce p99 ms | peak RSS MiB | broker CPU s | written MiB | produce × | consume × | RSS × | CPU × |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range rep.Summary {
		rss, cpu, written := "-", "-", "-"
		if s.Measured {
			rss = fmt.Sprintf("%.0f", float64(s.PeakRSSBytes)/bytesPerMB)
			cpu = fmt.Sprintf("%.1f", s.CPUSeconds.Median)
			if s.WriteBytes.N > 0 {
				written = fmt.Sprintf("%.0f", s.WriteBytes.Median/bytesPerMB)
			}
		}
		runs := fmt.Sprintf("%d", s.Runs-s.Failed)
		if s.Failed > 0 {
			runs += fmt.Sprintf(" (%d failed)", s.Failed)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			s.Target, runs, spread(s.ProduceMBps, "%.1f"), spread(s.ConsumeMBps, "%.1f"), spread(s.ProduceP99Ms, "%.1f"),
			rss, cpu, written, ratioText(s.ProduceRatio), ratioText(s.ConsumeRatio), ratioText(s.RSSRatio), ratioText(s.CPURatio))
	}
	b.WriteString("\nRatios are to the first target's medians; spreads are min–max over rounds, run interleaved in a rotating order (A B C, B C A, ...).\n")
	if len(rep.Results) > 0 {
		b.WriteString("\n## Runs\n\n| target | round | nodes | RF | produce rec/s | MB/s | p50 ms | p99 ms | p99.9 ms | max ms | consume MB/s | load | error |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, r := range rep.Results {
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %.0f | %.1f | %.2f | %.2f | %.2f | %.2f | %.1f | %s | %s |\n",
				r.Driver, r.Round, intOrDash(r.Nodes), intOrDash(int(r.ReplicationFactor)), r.PublishRate, r.PublishThroughputMBs,
				r.AggregatedPublishLatency50pct, r.AggregatedPublishLatency99pct, r.AggregatedPublishLatency999pct,
				r.AggregatedPublishLatencyMax, r.ConsumeThroughputMBs, loadText(r.LoadAvg1), strings.ReplaceAll(r.Error, "|", `\|`))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func intOrDash(n int) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// loadText shows a load average, "-" when unknown (negative, or absent from
// an older report).
func loadText(load float64) string {
	if load <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", load)
}
