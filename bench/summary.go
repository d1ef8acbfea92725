package bench

import (
	"slices"
)

// Spread is the median and range of one figure over the rounds.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// NewSpread summarises values; the zero Spread when there are none.
func NewSpread(values []float64) Spread {
	if len(values) == 0 {
		return Spread{}
	}
	s := slices.Clone(values)
	slices.Sort(s)
	mid := len(s) / 2
	med := s[mid]
	if len(s)%2 == 0 {
		med = (s[mid-1] + s[mid]) / 2
	}
	return Spread{Median: med, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// TargetSummary is one target's runs reduced to what the comparison table
// prints. Ratios are this target's median over the first target's (0 when
// either is missing).
type TargetSummary struct {
	Target     string `json:"target"`
	Runs       int    `json:"runs"`
	Failed     int    `json:"failed"`
	FirstError string `json:"firstError,omitempty"`

	ProduceMBps       Spread `json:"produceMBps"`
	ProduceRecsPerSec Spread `json:"produceRecordsPerSec"`
	ProduceP99Ms      Spread `json:"produceP99Ms"`
	ConsumeMBps       Spread `json:"consumeMBps"`
	EndToEndP99Ms     Spread `json:"endToEndP99Ms"`

	Measured         bool   `json:"measured"`
	PeakRSSBytes     int64  `json:"peakRssBytes"` // the largest over the runs
	CPUSeconds       Spread `json:"cpuSeconds"`
	WriteBytes       Spread `json:"writeBytes"`
	ClientCPUSeconds Spread `json:"clientCpuSeconds"`

	ProduceRatio float64 `json:"produceRatio"`
	ConsumeRatio float64 `json:"consumeRatio"`
	RSSRatio     float64 `json:"rssRatio"`
	CPURatio     float64 `json:"cpuRatio"`
}

// Summarise groups runs by target, in the order targets first appear, and
// computes ratios against the first target.
func Summarise(runs []RunResult) []TargetSummary {
	var order []string
	byTarget := map[string][]RunResult{}
	for _, r := range runs {
		if _, seen := byTarget[r.Target]; !seen {
			order = append(order, r.Target)
		}
		byTarget[r.Target] = append(byTarget[r.Target], r)
	}
	out := make([]TargetSummary, 0, len(order))
	for _, name := range order {
		out = append(out, summariseTarget(name, byTarget[name]))
	}
	if len(out) > 0 {
		base := out[0]
		for i := range out {
			s := &out[i]
			s.ProduceRatio = ratio(s.ProduceMBps.Median, base.ProduceMBps.Median)
			s.ConsumeRatio = ratio(s.ConsumeMBps.Median, base.ConsumeMBps.Median)
			s.RSSRatio = ratio(float64(s.PeakRSSBytes), float64(base.PeakRSSBytes))
			s.CPURatio = ratio(s.CPUSeconds.Median, base.CPUSeconds.Median)
		}
	}
	return out
}

func summariseTarget(name string, runs []RunResult) TargetSummary {
	s := TargetSummary{Target: name, Runs: len(runs)}
	var prodMB, prodRecs, p99, e2e99, consMB, cpu, written, client []float64
	for _, r := range runs {
		if !r.OK() {
			s.Failed++
			if s.FirstError == "" {
				s.FirstError = r.Err
			}
			continue
		}
		prodMB = append(prodMB, r.Produce.MBPerSec)
		prodRecs = append(prodRecs, r.Produce.RecordsPerSec)
		p99 = append(p99, r.Produce.Latency.P99Ms)
		if r.Consume.EndToEnd.Count > 0 {
			e2e99 = append(e2e99, r.Consume.EndToEnd.P99Ms)
		}
		if r.Consume.Records > 0 {
			consMB = append(consMB, r.Consume.MBPerSec)
		}
		client = append(client, r.ClientCPUSeconds)
		if r.Measured {
			s.Measured = true
			cpu = append(cpu, r.Broker.CPUSeconds)
			s.PeakRSSBytes = max(s.PeakRSSBytes, r.Broker.PeakRSSBytes)
			if r.Broker.WriteBytes >= 0 {
				written = append(written, float64(r.Broker.WriteBytes))
			}
		}
	}
	s.ProduceMBps = NewSpread(prodMB)
	s.ProduceRecsPerSec = NewSpread(prodRecs)
	s.ProduceP99Ms = NewSpread(p99)
	s.ConsumeMBps = NewSpread(consMB)
	s.EndToEndP99Ms = NewSpread(e2e99)
	s.CPUSeconds = NewSpread(cpu)
	s.WriteBytes = NewSpread(written)
	s.ClientCPUSeconds = NewSpread(client)
	return s
}

func ratio(a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return a / b
}
