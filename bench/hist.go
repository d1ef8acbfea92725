package bench

import (
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: one microsecond to one hour, three significant digits
// (0.1 % value resolution), as kafka-producer-perf-test reports and as
// OpenMessaging Benchmark records.
const (
	histLowestMicros  = 1
	histHighestMicros = int64(time.Hour / time.Microsecond)
	histSigFigs       = 3
)

// LatencyHist is a latency histogram in microseconds. It is not safe for
// concurrent use; the Recorder guards its own.
type LatencyHist struct {
	h *hdrhistogram.Histogram
}

// NewLatencyHist returns an empty histogram.
func NewLatencyHist() *LatencyHist {
	return &LatencyHist{h: hdrhistogram.New(histLowestMicros, histHighestMicros, histSigFigs)}
}

// Record adds one latency. Negative latencies (a clock step) count as zero
// and latencies past the histogram's range are clamped to its top, so a
// sample is never silently lost.
func (l *LatencyHist) Record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	if us > histHighestMicros {
		us = histHighestMicros
	}
	_ = l.h.RecordValue(us) // in range by construction
}

// Merge adds every sample of other into l.
func (l *LatencyHist) Merge(other *LatencyHist) {
	if other != nil {
		l.h.Merge(other.h)
	}
}

// Count is the number of samples.
func (l *LatencyHist) Count() int64 { return l.h.TotalCount() }

// LatencySummary is a histogram reduced to the figures the reports print, in
// milliseconds.
type LatencySummary struct {
	Count  int64   `json:"count"`
	AvgMs  float64 `json:"avgMs"`
	MaxMs  float64 `json:"maxMs"`
	P50Ms  float64 `json:"p50Ms"`
	P75Ms  float64 `json:"p75Ms"`
	P95Ms  float64 `json:"p95Ms"`
	P99Ms  float64 `json:"p99Ms"`
	P999Ms float64 `json:"p999Ms"`
}

// Summary reduces the histogram; all zero when it is empty.
func (l *LatencyHist) Summary() LatencySummary {
	if l.h.TotalCount() == 0 {
		return LatencySummary{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return LatencySummary{
		Count:  l.h.TotalCount(),
		AvgMs:  l.h.Mean() / 1000,
		MaxMs:  ms(l.h.Max()),
		P50Ms:  ms(l.h.ValueAtQuantile(50)),
		P75Ms:  ms(l.h.ValueAtQuantile(75)),
		P95Ms:  ms(l.h.ValueAtQuantile(95)),
		P99Ms:  ms(l.h.ValueAtQuantile(99)),
		P999Ms: ms(l.h.ValueAtQuantile(99.9)),
	}
}

// PercentilePoint is one point of a latency percentile curve.
type PercentilePoint struct {
	Percentile float64 `json:"percentile"` // 0–100
	Ms         float64 `json:"ms"`
}

// curveTicksPerDecade is how finely PercentileCurve samples each decade of
// 1/(1−p): 50 %, …, 90 %, …, 99 %, …
const curveTicksPerDecade = 10

// PercentileCurve samples the histogram the way HdrHistogram's plots do:
// evenly on a log scale of 1/(1−p), from the median to the highest
// percentile its sample count resolves (at most 99.999 %), then the
// maximum. Empty when there are no samples.
func (l *LatencyHist) PercentileCurve() []PercentilePoint {
	n := l.h.TotalCount()
	if n == 0 {
		return nil
	}
	var out []PercentilePoint
	// 1/(1−p) from 2 (the median) to n, at most 10^5.
	top := min(float64(n), 1e5)
	for k := 0; ; k++ {
		inv := 2 * math.Pow(10, float64(k)/curveTicksPerDecade)
		if inv > top {
			break
		}
		p := 100 * (1 - 1/inv)
		out = append(out, PercentilePoint{Percentile: p, Ms: float64(l.h.ValueAtQuantile(p)) / 1000})
	}
	return append(out, PercentilePoint{Percentile: 100, Ms: float64(l.h.Max()) / 1000})
}
