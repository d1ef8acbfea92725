package reports

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"sort"

	"github.com/highwater-io/highwater/checker"
	"github.com/highwater-io/highwater/history"
)

// MinAckGap is the shortest stretch without an acknowledged send that the
// timeline marks as an ack gap (how long writes stalled, KAFKA.md).
const MinAckGap int64 = 1e9

// timeline is a run's history binned in time for the plots.
type timeline struct {
	end, bucket int64 // ns
	n           int
	// Per bucket, in operations per second by completion time.
	sendOK, sendOther, reads, readsFailed []float64
	// Per bucket, latency of ok sends in ms; NaN when there was none.
	p50, p99, pmax []float64
	faults         []faultSpan
	faultNames     []string
	gaps           []ackGap
	marks          []mark
}

type faultSpan struct {
	name, desc string
	start, end int64
}

// ackGap is one stretch of the workload phase without an acknowledged
// send, at least MinAckGap long.
type ackGap struct {
	start, end         int64
	Start, End, Length string
}

// mark is an anomaly or finding placed on the time axis.
type mark struct {
	start, end int64
	finding    bool
	label      string
}

// bucketSizes are the bin widths tried, smallest first, until a run fits
// in maxBuckets of them.
var bucketSizes = []int64{1e8, 2.5e8, 5e8, 1e9, 2e9, 5e9, 1e10, 3e10, 6e10, 3e11, 6e11, 36e11}

const maxBuckets = 240

func buildTimeline(h *history.History, s checker.Summary) *timeline {
	t := &timeline{end: max(h.EndTime(), 1)}
	t.bucket = bucketSizes[len(bucketSizes)-1]
	for _, b := range bucketSizes {
		if t.end/b < maxBuckets {
			t.bucket = b
			break
		}
	}
	t.n = int(t.end/t.bucket) + 1
	t.sendOK, t.sendOther = make([]float64, t.n), make([]float64, t.n)
	t.reads, t.readsFailed = make([]float64, t.n), make([]float64, t.n)
	lat := make([][]float64, t.n)
	var acks []int64
	for i := range h.Ops {
		op := &h.Ops[i]
		at := op.Complete.Time
		if at < 0 || at > t.end {
			at = t.end
		}
		b := int(at / t.bucket)
		switch {
		case op.F == history.FSend && op.Type() == history.TypeOK:
			t.sendOK[b]++
			acks = append(acks, op.Complete.Time)
			lat[b] = append(lat[b], float64(op.Complete.Time-op.Invoke.Time)/1e6)
		case op.F == history.FSend:
			t.sendOther[b]++
		case op.F == history.FPoll || op.F == history.FFetch || op.F == history.FListOffsets:
			if op.Type() == history.TypeOK {
				t.reads[b]++
			} else {
				t.readsFailed[b]++
			}
		}
	}
	perSec := 1e9 / float64(t.bucket)
	for _, s := range [][]float64{t.sendOK, t.sendOther, t.reads, t.readsFailed} {
		for i := range s {
			s[i] *= perSec
		}
	}
	t.p50, t.p99, t.pmax = make([]float64, t.n), make([]float64, t.n), make([]float64, t.n)
	for i, l := range lat {
		if len(l) == 0 {
			t.p50[i], t.p99[i], t.pmax[i] = math.NaN(), math.NaN(), math.NaN()
			continue
		}
		slices.Sort(l)
		t.p50[i], t.p99[i], t.pmax[i] = quantile(l, 0.5), quantile(l, 0.99), l[len(l)-1]
	}
	for _, w := range h.Faults {
		end := w.StopTime
		if end < 0 {
			end = t.end
		}
		t.faults = append(t.faults, faultSpan{name: w.Fault, desc: w.Description, start: w.StartTime, end: end})
		if !slices.Contains(t.faultNames, w.Fault) {
			t.faultNames = append(t.faultNames, w.Fault)
		}
	}
	t.gaps = ackGaps(h, acks)
	for _, r := range s.Results {
		for _, a := range r.Anomalies {
			t.marks = append(t.marks, markOf(a, false))
		}
		for _, a := range r.Findings {
			t.marks = append(t.marks, markOf(a, true))
		}
	}
	return t
}

func markOf(a checker.Anomaly, finding bool) mark {
	m := mark{start: a.Start, end: a.End, finding: finding, label: a.Type}
	if a.Topic != "" {
		m.label += fmt.Sprintf(" on %s-%d", a.Topic, a.Partition)
	}
	if m.end <= m.start && len(a.Ops) > 0 {
		m.start, m.end = a.Ops[0].InvokeTime, a.Ops[0].InvokeTime
	}
	return m
}

func quantile(sorted []float64, q float64) float64 {
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// ackGaps finds the stretches of the workload phase (from its marker to
// the next phase marker, cut at the moment the last send invoked in it
// settled) without an acknowledged send.
func ackGaps(h *history.History, acks []int64) []ackGap {
	from, to := int64(0), h.EndTime()
	started := false
	for _, e := range h.Phases {
		if string(e.F) == history.PhaseWorkload {
			from, started = e.Time, true
			continue
		}
		if started {
			to = e.Time
			break
		}
	}
	last := from
	for i := range h.Ops {
		op := &h.Ops[i]
		if op.F == history.FSend && op.Invoke.Time >= from && op.Invoke.Time <= to {
			last = max(last, op.Complete.Time)
		}
	}
	if last > from && last < to {
		to = last
	}
	sort.Slice(acks, func(i, j int) bool { return acks[i] < acks[j] })
	points := []int64{from}
	for _, a := range acks {
		if a > from && a < to {
			points = append(points, a)
		}
	}
	points = append(points, to)
	var out []ackGap
	for i := 1; i < len(points); i++ {
		if g := points[i] - points[i-1]; g >= MinAckGap {
			out = append(out, ackGap{start: points[i-1], end: points[i],
				Start: secs(points[i-1]), End: secs(points[i]), Length: secs(g)})
		}
	}
	return out
}

// faultPalette shades fault windows, one light colour per fault kind.
var faultPalette = []string{"#f4b6b6", "#b6cff4", "#c4ecb0", "#f4deb0", "#dcc0f0", "#b0ece6", "#e8e8a8", "#d0d0d0"}

func faultColour(names []string, name string) string {
	return faultPalette[max(0, slices.Index(names, name))%len(faultPalette)]
}

// timeAxis draws the x axis in seconds and returns the mapping from ns.
func (t *timeline) timeAxis(p *plot) func(int64) float64 {
	// The axis ends where the run ended, not at the next round tick.
	span := float64(t.end) / 1e9
	x := func(ns int64) float64 { return p.x0() + (p.x1()-p.x0())*float64(ns)/1e9/span }
	for _, tk := range niceTicks(span) {
		if tk > span*(1+1e-9) {
			break
		}
		xx := x(int64(tk * 1e9))
		p.line(xx, p.y0(), xx, p.y0()+4, "#333", 1, "")
		p.text(xx, p.y0()+16, "middle", "tick", formatTick(tk))
	}
	p.text((p.x0()+p.x1())/2, p.y0()+34, "middle", "axis", "time since the run started (s)")
	return x
}

// decorate shades fault windows and ack gaps and marks anomalies, behind
// the series.
func (t *timeline) decorate(p *plot, x func(int64) float64) {
	for _, f := range t.faults {
		x0, x1 := x(f.start), max(x(f.end), x(f.start)+1)
		fmt.Fprintf(&p.b, `<rect class="fault" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.55"><title>%s</title></rect>`,
			x0, p.y1(), x1-x0, p.y0()-p.y1(), faultColour(t.faultNames, f.name),
			template.HTMLEscapeString(fmt.Sprintf("fault %s %s–%s: %s", f.name, secs(f.start), secs(f.end), f.desc)))
	}
	for _, g := range t.gaps {
		x0, x1 := x(g.start), x(g.end)
		fmt.Fprintf(&p.b, `<rect class="ackgap" x="%.1f" y="%.1f" width="%.1f" height="8" fill="#c00"><title>%s</title></rect>`,
			x0, p.y0()-8, x1-x0, template.HTMLEscapeString(fmt.Sprintf("no acknowledged send for %s (%s–%s)", g.Length, g.Start, g.End)))
	}
	for _, m := range t.marks {
		colour := "#c00"
		if m.finding {
			colour = "#e08000"
		}
		x0, x1 := x(m.start), x(max(m.end, m.start))
		fmt.Fprintf(&p.b, `<rect class="mark" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.35" stroke="%s" stroke-dasharray="4 3"><title>%s</title></rect>`,
			x0-1, p.y1(), x1-x0+2, p.y0()-p.y1(), colour, colour, template.HTMLEscapeString(m.label+" at "+secs(m.start)))
	}
}

// legendItems draws a legend row: series as lines, shadings as boxes.
func (p *plot) legendItems(items []legendItem) {
	x, y := p.x0(), 30.0
	for _, it := range items {
		w := 7.0*float64(len([]rune(it.name))) + 30
		if x+w > p.x1() {
			x, y = p.x0(), y+16
		}
		if it.line {
			p.line(x, y+6, x+14, y+6, it.colour, 2.5, "")
		} else {
			fmt.Fprintf(&p.b, `<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`, x, y, it.colour)
		}
		p.text(x+18, y+10, "start", "legend", it.name)
		x += w
	}
}

type legendItem struct {
	name, colour string
	line         bool
}

func (t *timeline) shadingLegend() []legendItem {
	var items []legendItem
	for _, n := range t.faultNames {
		items = append(items, legendItem{name: "fault: " + n, colour: faultColour(t.faultNames, n)})
	}
	if len(t.gaps) > 0 {
		items = append(items, legendItem{name: "ack gap ≥ 1s", colour: "#c00"})
	}
	anoms, finds := false, false
	for _, m := range t.marks {
		anoms = anoms || !m.finding
		finds = finds || m.finding
	}
	if anoms {
		items = append(items, legendItem{name: "anomaly", colour: "#e99"})
	}
	if finds {
		items = append(items, legendItem{name: "finding (allowed)", colour: "#f0c080"})
	}
	return items
}

func (t *timeline) series(p *plot, x func(int64) float64, y func(float64) float64, vals []float64, colour, name string) {
	var pts []string
	flush := func() {
		if len(pts) > 0 {
			fmt.Fprintf(&p.b, `<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"><title>%s</title></polyline>`,
				colour, joinPts(pts), template.HTMLEscapeString(name))
			pts = pts[:0]
		}
	}
	for i, v := range vals {
		if math.IsNaN(v) {
			flush()
			continue
		}
		mid := int64(i)*t.bucket + t.bucket/2
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(min(mid, t.end)), y(v)))
	}
	flush()
}

func joinPts(pts []string) string {
	n := 0
	for _, p := range pts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for i, p := range pts {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, p...)
	}
	return string(b)
}

// throughputTimeline plots operations completed per second.
func throughputTimeline(t *timeline) template.HTML {
	p := newPlot(plotWidth, plotHeight+20, fmt.Sprintf("Throughput over time (operations completed per second, %s bins)", secs(t.bucket)))
	p.top = 76
	top := 1.0
	for _, s := range [][]float64{t.sendOK, t.sendOther, t.reads, t.readsFailed} {
		for _, v := range s {
			top = max(top, v)
		}
	}
	x := t.timeAxis(p)
	t.decorate(p, x)
	y := p.yAxis(top, "operations / s")
	series := []struct {
		vals   []float64
		colour string
		name   string
	}{
		{t.sendOK, colour(0), "sends acknowledged"},
		{t.sendOther, colour(1), "sends failed or indefinite"},
		{t.reads, colour(2), "reads ok (poll, fetch, list-offsets)"},
		{t.readsFailed, colour(3), "reads failed"},
	}
	var items []legendItem
	for _, s := range series {
		t.series(p, x, y, s.vals, s.colour, s.name)
		items = append(items, legendItem{name: s.name, colour: s.colour, line: true})
	}
	p.legendItems(append(items, t.shadingLegend()...))
	return p.html()
}

// latencyTimeline plots acknowledged sends' latency per bin on a log scale.
func latencyTimeline(t *timeline) template.HTML {
	p := newPlot(plotWidth, plotHeight+20, fmt.Sprintf("Send latency over time (acknowledged sends, by completion, %s bins; log scale)", secs(t.bucket)))
	p.top = 76
	lo, hi := math.Inf(1), 0.0
	for i := range t.pmax {
		if !math.IsNaN(t.pmax[i]) {
			lo, hi = min(lo, t.p50[i]), max(hi, t.pmax[i])
		}
	}
	x := t.timeAxis(p)
	t.decorate(p, x)
	if hi == 0 {
		p.text((p.x0()+p.x1())/2, (p.y0()+p.y1())/2, "middle", "axis", "no acknowledged sends")
		p.legendItems(t.shadingLegend())
		return p.html()
	}
	loExp := math.Floor(math.Log10(max(lo, 0.01)))
	hiExp := math.Ceil(math.Log10(hi) + 1e-9)
	if hiExp <= loExp {
		hiExp = loExp + 1
	}
	y := func(ms float64) float64 {
		return p.y0() - (p.y0()-p.y1())*(math.Log10(max(ms, math.Pow(10, loExp)))-loExp)/(hiExp-loExp)
	}
	for e := loExp; e <= hiExp; e++ {
		v := math.Pow(10, e)
		p.line(p.x0(), y(v), p.x1(), y(v), "#ddd", 1, "")
		p.text(p.x0()-6, y(v)+4, "end", "tick", formatTick(v))
	}
	fmt.Fprintf(&p.b, `<text transform="translate(14 %.1f) rotate(-90)" text-anchor="middle" class="axis">latency (ms)</text>`, (p.y0()+p.y1())/2)
	p.line(p.x0(), p.y0(), p.x1(), p.y0(), "#333", 1, "")
	items := []legendItem{{"p50", colour(0), true}, {"p99", colour(1), true}, {"max", colour(7), true}}
	t.series(p, x, y, t.p50, colour(0), "p50")
	t.series(p, x, y, t.p99, colour(1), "p99")
	t.series(p, x, y, t.pmax, colour(7), "max")
	p.legendItems(append(items, t.shadingLegend()...))
	return p.html()
}
