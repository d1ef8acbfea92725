package reports

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"

	"github.com/highwater-io/highwater/bench"
)

// Plot sizes in SVG pixels; the page scales them down on narrow screens.
const (
	plotWidth  = 860
	plotHeight = 360
)

// percentileX is where a percentile sits on the HdrHistogram-style axis:
// log10 of 1/(1−p), so 90 %, 99 %, 99.9 % … are evenly spaced.
func percentileX(p float64) float64 { return math.Log10(1 / (1 - p/100)) }

// latencyTicks label the percentile axis.
var latencyTicks = []struct {
	p     float64
	label string
}{{50, "50%"}, {90, "90%"}, {99, "99%"}, {99.9, "99.9%"}, {99.99, "99.99%"}, {99.999, "99.999%"}}

// latencyPlot draws each target's percentile curve (the maximum, at 100 %,
// is left off: it has no place on a log axis and the tables give it).
func latencyPlot(title string, targets []string, curves []TargetCurve) template.HTML {
	p := newPlot(plotWidth, plotHeight, title)
	maxX, maxMs := percentileX(99), 0.0
	for _, c := range curves {
		for _, pt := range c.Points {
			if pt.Percentile < 100 {
				maxX = max(maxX, percentileX(pt.Percentile))
				maxMs = max(maxMs, pt.Ms)
			}
		}
	}
	if maxMs == 0 {
		p.text((p.x0()+p.x1())/2, (p.y0()+p.y1())/2, "middle", "axis", "no latency samples")
		return p.html()
	}
	maxX = math.Ceil(maxX*2-1e-9) / 2 // to the next half decade
	y := p.yAxis(maxMs, "latency (ms)")
	x := func(pct float64) float64 { return p.x0() + (p.x1()-p.x0())*percentileX(pct)/maxX }
	for _, t := range latencyTicks {
		if percentileX(t.p) > maxX+1e-9 {
			break
		}
		p.line(x(t.p), p.y0(), x(t.p), p.y1(), "#eee", 1, "")
		p.text(x(t.p), p.y0()+16, "middle", "tick", t.label)
	}
	p.text((p.x0()+p.x1())/2, p.y0()+36, "middle", "axis", "percentile (log scale of 1/(1−p))")
	for _, c := range curves {
		i := slices.Index(targets, c.Target)
		var pts []string
		for _, pt := range c.Points {
			if pt.Percentile < 100 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(pt.Percentile), y(pt.Ms)))
			}
		}
		fmt.Fprintf(&p.b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`,
			colour(i), strings.Join(pts, " "), template.HTMLEscapeString(c.Target))
	}
	p.legend(targets)
	return p.html()
}

// throughputPlot draws, for produce and consume, each target's median MB/s
// as a bar with its min–max range as a whisker and every round as a dot.
func throughputPlot(targets []string, runs []bench.ResultJSON, sums []bench.TargetSummary) template.HTML {
	p := newPlot(plotWidth, plotHeight, "Throughput per target: median bar, min–max whisker, one dot per round")
	top := 0.0
	for _, r := range runs {
		top = max(top, r.PublishThroughputMBs, r.ConsumeThroughputMBs)
	}
	if top == 0 || len(targets) == 0 {
		p.text((p.x0()+p.x1())/2, (p.y0()+p.y1())/2, "middle", "axis", "no throughput measured")
		return p.html()
	}
	y := p.yAxis(top, "MB/s (MiB)")
	phases := []struct {
		name   string
		spread func(bench.TargetSummary) bench.Spread
		value  func(bench.ResultJSON) float64
	}{
		{"produce", func(s bench.TargetSummary) bench.Spread { return s.ProduceMBps }, func(r bench.ResultJSON) float64 { return r.PublishThroughputMBs }},
		{"consume", func(s bench.TargetSummary) bench.Spread { return s.ConsumeMBps }, func(r bench.ResultJSON) float64 { return r.ConsumeThroughputMBs }},
	}
	groupW := (p.x1() - p.x0()) / float64(len(phases))
	barW := min(60, groupW*0.8/float64(len(targets)))
	for g, ph := range phases {
		gx := p.x0() + groupW*float64(g)
		p.text(gx+groupW/2, p.y0()+20, "middle", "axis", ph.name)
		left := gx + (groupW-barW*float64(len(targets)))/2
		for i, t := range targets {
			bx := left + barW*float64(i)
			cx := bx + barW/2
			var s bench.Spread
			for _, sum := range sums {
				if sum.Target == t {
					s = ph.spread(sum)
				}
			}
			if s.N > 0 {
				fmt.Fprintf(&p.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.75"><title>%s %s: median %.1f MB/s</title></rect>`,
					bx+2, y(s.Median), barW-4, p.y0()-y(s.Median), colour(i), template.HTMLEscapeString(t), ph.name, s.Median)
				p.text(cx, y(s.Max)-5, "middle", "value", fmt.Sprintf("%.0f", s.Median))
				if s.N > 1 {
					p.line(cx, y(s.Min), cx, y(s.Max), "#222", 1.5, "")
					p.line(cx-6, y(s.Min), cx+6, y(s.Min), "#222", 1.5, "")
					p.line(cx-6, y(s.Max), cx+6, y(s.Max), "#222", 1.5, "")
				}
			}
			for _, r := range runs {
				if r.Driver == t && r.Error == "" && ph.value(r) > 0 {
					fmt.Fprintf(&p.b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#fff" stroke="#222"><title>round %d: %.1f MB/s</title></circle>`,
						cx+barW/4, y(ph.value(r)), r.Round, ph.value(r))
				}
			}
		}
	}
	p.legend(targets)
	return p.html()
}
