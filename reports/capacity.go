package reports

import (
	"fmt"
	"html/template"
	"io"
	"slices"

	"github.com/highwater-io/highwater/bench"
)

// CapacityPage shows a capacity search: every probe's offered against
// acknowledged rate and its p99 against the bound, and the sustainable rate.
type CapacityPage struct {
	Title  string
	Result bench.CapacityResult
	// Host describes the machine, as in the bench report.
	Host map[string]string
}

// WriteHTML renders the page.
func (p CapacityPage) WriteHTML(w io.Writer) error {
	data := struct {
		CapacityPage
		Host    [][2]string
		Rates   template.HTML
		Latency template.HTML
		Bound   string
	}{
		CapacityPage: p,
		Host:         hostRows(p.Host),
		Rates:        probeRatePlot(p.Result),
		Latency:      probeLatencyPlot(p.Result),
		Bound:        p.Result.Config.P99Bound.String(),
	}
	return capacityTemplate.Execute(w, data)
}

// probesByRate is the probes in offered-rate order, for drawing lines.
func probesByRate(r bench.CapacityResult) []bench.Probe {
	ps := slices.Clone(r.Probes)
	slices.SortStableFunc(ps, func(a, b bench.Probe) int {
		switch {
		case a.RatePerSec < b.RatePerSec:
			return -1
		case a.RatePerSec > b.RatePerSec:
			return 1
		}
		return 0
	})
	return ps
}

// probeRatePlot draws acknowledged against offered records/s, with the
// ideal y = x line: passing probes sit on it, failing ones fall below.
func probeRatePlot(r bench.CapacityResult) template.HTML {
	p := newPlot(plotWidth, plotHeight, "Acknowledged against offered rate (records/s)")
	ps := probesByRate(r)
	if len(ps) == 0 {
		p.text((p.x0()+p.x1())/2, (p.y0()+p.y1())/2, "middle", "axis", "no probes")
		return p.html()
	}
	top := 0.0
	for _, pr := range ps {
		top = max(top, pr.RatePerSec, pr.SentPerSec)
	}
	y := p.yAxis(top, "acknowledged records/s")
	xTop := niceTicks(top)[len(niceTicks(top))-1]
	x := func(v float64) float64 { return p.x0() + (p.x1()-p.x0())*v/xTop }
	for _, t := range niceTicks(top) {
		p.text(x(t), p.y0()+16, "middle", "tick", formatTick(t))
	}
	p.text((p.x0()+p.x1())/2, p.y0()+36, "middle", "axis", "offered records/s")
	p.line(x(0), y(0), x(xTop), y(xTop), "#999", 1, ` stroke-dasharray="4 4"`)
	probePoints(p, ps, x, func(pr bench.Probe) float64 { return y(pr.SentPerSec) })
	return p.html()
}

// probeLatencyPlot draws each probe's p99 against its offered rate, with
// the bound.
func probeLatencyPlot(r bench.CapacityResult) template.HTML {
	p := newPlot(plotWidth, plotHeight, "Produce p99 against offered rate")
	ps := probesByRate(r)
	if len(ps) == 0 {
		p.text((p.x0()+p.x1())/2, (p.y0()+p.y1())/2, "middle", "axis", "no probes")
		return p.html()
	}
	boundMs := float64(r.Config.P99Bound.Microseconds()) / 1000
	topRate, topMs := 0.0, boundMs*1.2
	for _, pr := range ps {
		topRate = max(topRate, pr.RatePerSec)
	}
	y := p.yAxis(topMs, "p99 ms (clipped above the bound)")
	ticks := niceTicks(topRate)
	xTop := ticks[len(ticks)-1]
	x := func(v float64) float64 { return p.x0() + (p.x1()-p.x0())*v/xTop }
	for _, t := range ticks {
		p.text(x(t), p.y0()+16, "middle", "tick", formatTick(t))
	}
	p.text((p.x0()+p.x1())/2, p.y0()+36, "middle", "axis", "offered records/s")
	p.line(p.x0(), y(boundMs), p.x1(), y(boundMs), "#D55E00", 1.5, ` stroke-dasharray="6 3"`)
	p.text(p.x1(), y(boundMs)-5, "end", "tick", fmt.Sprintf("bound %g ms", boundMs))
	probePoints(p, ps, x, func(pr bench.Probe) float64 { return y(min(pr.P99Ms, topMs)) })
	return p.html()
}

// probePoints joins the probes with a line and marks each: filled when it
// passed, hollow when it did not.
func probePoints(p *plot, ps []bench.Probe, x func(float64) float64, y func(bench.Probe) float64) {
	var pts string
	for _, pr := range ps {
		pts += fmt.Sprintf("%.1f,%.1f ", x(pr.RatePerSec), y(pr))
	}
	fmt.Fprintf(&p.b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, colour(0), pts)
	for _, pr := range ps {
		fill := colour(0)
		if !pr.Pass {
			fill = "#fff"
		}
		fmt.Fprintf(&p.b, `<circle cx="%.1f" cy="%.1f" r="5" fill="%s" stroke="%s" stroke-width="2"><title>%.0f offered: %s</title></circle>`,
			x(pr.RatePerSec), y(pr), fill, colour(0), pr.RatePerSec, template.HTMLEscapeString(verdict(pr)))
	}
}

func verdict(p bench.Probe) string {
	if p.Pass {
		return "sustained"
	}
	return p.Reason
}

var capacityTemplate = template.Must(template.New("capacity").Funcs(template.FuncMap{"verdict": verdict}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>` + pageCSS + `</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{with .Result}}
<p class="sub">Capacity search against {{.Target}}: open-loop probes, sustained while acknowledged/offered ≥ {{.Config.MinSentRatio}} and p99 ≤ {{$.Bound}}.</p>
<h2>Sustainable throughput</h2>
{{if .Found}}<table class="kv">
<tr><td>cluster</td><td>{{printf "%.0f" .RecordsPerSec}} records/s, {{printf "%.2f" .MBPerSec}} MB/s, p99 {{printf "%.1f" .P99Ms}} ms</td></tr>
<tr><td>per broker</td><td>{{printf "%.0f" .RecordsPerSecPerBroker}} records/s, {{printf "%.2f" .MBPerSecPerBroker}} MB/s ({{.Brokers}} broker{{if ne .Brokers 1}}s{{end}})</td></tr>
{{if gt .CoresUsed 0.0}}<tr><td>per core</td><td>{{printf "%.0f" .RecordsPerSecPerCore}} records/s, {{printf "%.2f" .MBPerSecPerCore}} MB/s ({{printf "%.2f" .CoresUsed}} broker cores busy)</td></tr>{{end}}
{{if gt .ConsumeMBPerSec 0.0}}<tr><td>read back</td><td>{{printf "%.2f" .ConsumeMBPerSec}} MB/s</td></tr>{{end}}
<tr><td>limited by</td><td>{{.LimitedBy}}</td></tr>
</table>{{else}}<p class="err">No sustainable rate found: {{.LimitedBy}}</p>{{end}}
{{end}}
{{.Rates}}
{{.Latency}}
<h2>Probes</h2>
<div class="scroll"><table>
<tr><th>offered records/s</th><th>acknowledged records/s</th><th>ratio</th><th>MB/s</th><th>p99 ms</th><th>broker CPU s</th><th>wall s</th><th style="text-align:left">verdict</th></tr>
{{range .Result.Probes}}<tr><td>{{printf "%.0f" .RatePerSec}}</td><td>{{printf "%.0f" .SentPerSec}}</td><td>{{printf "%.4f" .SentRatio}}</td><td>{{printf "%.1f" .MBPerSec}}</td><td>{{printf "%.1f" .P99Ms}}</td><td>{{if .Measured}}{{printf "%.1f" .BrokerCPUSeconds}}{{else}}–{{end}}</td><td>{{printf "%.1f" .WallSeconds}}</td><td style="text-align:left">{{verdict .}}</td></tr>
{{end}}</table></div>
<h2>Machine</h2>
<table class="kv">{{range .Host}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>{{else}}<tr><td>not recorded</td></tr>{{end}}</table>
</body>
</html>
`))
