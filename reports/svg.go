package reports

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// palette gives each target a colour, in order (Okabe–Ito, readable by
// colour-blind readers).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"}

func colour(i int) string { return palette[i%len(palette)] }

// plot is the frame of one chart: the SVG size and the plotting area inside
// the margins.
type plot struct {
	b                      strings.Builder
	width, height          float64
	left, right, top, bott float64
}

func newPlot(width, height float64, title string) *plot {
	p := &plot{width: width, height: height, left: 64, right: 40, top: 56, bott: 46}
	fmt.Fprintf(&p.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="%s">`,
		width, height, width, height, template.HTMLEscapeString(title))
	fmt.Fprintf(&p.b, `<rect width="100%%" height="100%%" fill="#fff"/>`)
	fmt.Fprintf(&p.b, `<text x="%g" y="18" class="title">%s</text>`, p.left, template.HTMLEscapeString(title))
	return p
}

// x0, x1, y0, y1 are the plotting area's edges in SVG coordinates.
func (p *plot) x0() float64 { return p.left }
func (p *plot) x1() float64 { return p.width - p.right }
func (p *plot) y0() float64 { return p.height - p.bott }
func (p *plot) y1() float64 { return p.top }

func (p *plot) text(x, y float64, anchor, class, s string) {
	fmt.Fprintf(&p.b, `<text x="%.1f" y="%.1f" text-anchor="%s" class="%s">%s</text>`, x, y, anchor, class, template.HTMLEscapeString(s))
}

func (p *plot) line(x1, y1, x2, y2 float64, stroke string, width float64, extra string) {
	fmt.Fprintf(&p.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%g"%s/>`, x1, y1, x2, y2, stroke, width, extra)
}

// yAxis draws horizontal grid lines at ticks of a linear scale from 0 to
// top and returns the mapping from value to SVG y.
func (p *plot) yAxis(top float64, label string) func(float64) float64 {
	ticks := niceTicks(top)
	top = ticks[len(ticks)-1]
	y := func(v float64) float64 { return p.y0() - (p.y0()-p.y1())*v/top }
	for _, t := range ticks {
		p.line(p.x0(), y(t), p.x1(), y(t), "#ddd", 1, "")
		p.text(p.x0()-6, y(t)+4, "end", "tick", formatTick(t))
	}
	fmt.Fprintf(&p.b, `<text transform="translate(14 %.1f) rotate(-90)" text-anchor="middle" class="axis">%s</text>`,
		(p.y0()+p.y1())/2, template.HTMLEscapeString(label))
	p.line(p.x0(), p.y0(), p.x1(), p.y0(), "#333", 1, "")
	return y
}

func (p *plot) html() template.HTML {
	return template.HTML(p.b.String() + "</svg>")
}

// niceTicks is 0 and 4–8 round steps covering top (> 0).
func niceTicks(top float64) []float64 {
	if !(top > 0) || math.IsInf(top, 0) {
		top = 1
	}
	raw := top / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if mag*m >= raw {
			step = mag * m
			break
		}
	}
	var out []float64
	for v := 0.0; ; v += step {
		out = append(out, v)
		if v >= top*(1-1e-9) {
			return out
		}
	}
}

// formatTick writes tick values compactly (12k, 1.5M) so that labels fit
// the margin beside the axis.
func formatTick(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1e6:
		return formatTick(v/1e6) + "M"
	case v >= 1e4:
		return formatTick(v/1e3) + "k"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", v), "0"), ".")
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

// legend draws target names with their colours in a row under the title.
func (p *plot) legend(names []string) {
	x := p.x0()
	for i, name := range names {
		fmt.Fprintf(&p.b, `<rect x="%.1f" y="30" width="12" height="12" fill="%s"/>`, x, colour(i))
		p.text(x+16, 40, "start", "legend", name)
		x += 7.5*float64(len([]rune(name))) + 34
	}
}
