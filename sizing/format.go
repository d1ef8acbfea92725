package sizing

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Formats the report writers accept.
var Formats = []string{"text", "markdown", "json"}

// Format writes p as "text", "markdown" or "json".
func Format(out io.Writer, p Plan, format string) error {
	switch format {
	case "text", "":
		return FormatText(out, p)
	case "markdown", "md":
		return FormatMarkdown(out, p)
	case "json":
		return FormatJSON(out, p)
	}
	return fmt.Errorf("%w: unknown format %q (want one of %s)", ErrWorkload, format, strings.Join(Formats, ", "))
}

// FormatJSON writes the plan as indented JSON.
func FormatJSON(out io.Writer, p Plan) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// FormatText writes the plan for a terminal.
func FormatText(out io.Writer, p Plan) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "workload\t%s\n", describe(p.Workload))
	for _, row := range summaryRows(p) {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "%s\tload\tcapacity\tused\ttarget\theadroom\n", resourceHeader(p))
	for _, u := range p.Resources {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", resourceName(u, p.Binding), amount(u.LoadPerBroker, u.Unit),
			amount(u.CapacityPerBroker, u.Unit), pct(u.UsedPercent), pct(u.TargetPercent), headroom(u))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "candidate\tbrokers\tmonthly\tbinds")
	for _, c := range p.Candidates {
		if c.Fits {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", c.Type, c.Brokers, money(c.MonthlyCost), c.Binding)
		} else {
			fmt.Fprintf(tw, "%s\t-\t-\t%s\n", c.Type, c.Reason)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeNotes(out, p, "")
}

// FormatMarkdown writes the plan as GitHub-flavoured markdown tables.
func FormatMarkdown(out io.Writer, p Plan) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## Sizing: %s × %d\n\n", p.InstanceType, p.Brokers)
	fmt.Fprintf(&b, "Workload: %s\n\n| | |\n| --- | --- |\n", describe(p.Workload))
	for _, row := range summaryRows(p) {
		fmt.Fprintf(&b, "| %s | %s |\n", strings.TrimSpace(row[0]), row[1])
	}
	fmt.Fprintf(&b, "\n| %s | load | capacity | used | target | headroom |\n| --- | ---: | ---: | ---: | ---: | ---: |\n", resourceHeader(p))
	for _, u := range p.Resources {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", resourceName(u, p.Binding), amount(u.LoadPerBroker, u.Unit),
			amount(u.CapacityPerBroker, u.Unit), pct(u.UsedPercent), pct(u.TargetPercent), headroom(u))
	}
	b.WriteString("\n| candidate | brokers | monthly | binds |\n| --- | ---: | ---: | --- |\n")
	for _, c := range p.Candidates {
		if c.Fits {
			fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", c.Type, c.Brokers, money(c.MonthlyCost), c.Binding)
		} else {
			fmt.Fprintf(&b, "| %s | – | – | %s |\n", c.Type, c.Reason)
		}
	}
	if _, err := io.WriteString(out, b.String()); err != nil {
		return err
	}
	return writeNotes(out, p, "- ")
}

func writeNotes(out io.Writer, p Plan, bullet string) error {
	notes := append([]string(nil), p.Notes...)
	notes = append(notes, fmt.Sprintf("prices as published on %s; edit the catalogue (highwater size --print-catalog) to change them", p.PricesDate))
	_, err := fmt.Fprintf(out, "\n%s%s\n", bullet, strings.Join(notes, "\n"+bullet))
	return err
}

// summaryRows are the headline figures, shared by text and markdown.
func summaryRows(p Plan) [][2]string {
	c := p.Costs
	rows := [][2]string{
		{"cluster", fmt.Sprintf("%s × %d", p.InstanceType, p.Brokers)},
		{"partitions", fmt.Sprintf("%d (%d replicas per broker, limit %d)", p.Partitions, p.PartitionsPerBroker, p.PartitionLimit)},
		{"storage per broker", fmt.Sprintf("%s GB (%s)", group(float64(p.StoragePerBrokerGBRounded), 0), group(p.StoragePerBrokerGB, 2))},
		{"tiered storage", "off"},
	}
	if p.Workload.TieredStorage {
		rows[3][1] = gb(p.TieredStorageGB)
	}
	if p.Workload.TieredStorage {
		rows = append(rows, [2]string{"MSK, tiered storage", costLine(c.MSKTiered)})
	}
	rows = append(rows,
		[2]string{"MSK, no tiered storage", costLine(c.MSKLocal)},
		[2]string{"self-managed EC2", costLine(c.SelfManagedEC2)},
	)
	var bind ResourceUse
	for _, u := range p.Resources {
		if u.Resource == p.Binding {
			bind = u
		}
	}
	rows = append(rows, [2]string{"binding resource", fmt.Sprintf("%s: %s of capacity, target %s, the workload can grow %s",
		p.Binding, pct(bind.UsedPercent), pct(bind.TargetPercent), headroom(bind))})
	return rows
}

func costLine(c Cost) string {
	s := fmt.Sprintf("%s/month (brokers %s, storage %s", money(c.Total), cents(c.Brokers), cents(c.Storage))
	if c.Tiered > 0 {
		s += ", tiered " + cents(c.Tiered)
	}
	return s + ", cross-AZ " + cents(c.CrossAZ) + ")"
}

func describe(w Workload) string {
	s := fmt.Sprintf("%g MB/s in", w.IngestMBps)
	if w.IngestPeakMBps > w.IngestMBps {
		s += fmt.Sprintf(" (peak %g)", w.IngestPeakMBps)
	}
	s += fmt.Sprintf(", %g MB/s out, RF %d, %g h retention", w.dataOutMBps(), w.ReplicationFactor, w.RetentionHours)
	if w.TieredStorage {
		s += fmt.Sprintf(" (%g h local, tiered)", w.LocalRetentionHours)
	}
	s += fmt.Sprintf(", %d AZs", w.AvailabilityZones)
	if w.EncryptionInTransit {
		s += ", TLS"
	}
	return s
}

func resourceHeader(p Plan) string {
	switch d := p.Workload.BrokersDownTolerated; d {
	case 0:
		return "resource (per broker)"
	case 1:
		return "resource (per broker, one down)"
	default:
		return fmt.Sprintf("resource (per broker, %d down)", d)
	}
}

func resourceName(u ResourceUse, bind Resource) string {
	if u.Resource == bind {
		return string(u.Resource) + " *"
	}
	return string(u.Resource)
}

func amount(v float64, unit string) string {
	if unit == "replicas" {
		return fmt.Sprintf("%.0f %s", v, unit)
	}
	return fmt.Sprintf("%s %s", group(v, 1), unit)
}

func pct(v float64) string {
	if v >= noCapacityPercent {
		return "no capacity"
	}
	return fmt.Sprintf("%.0f%%", v)
}

func headroom(u ResourceUse) string {
	if u.Unbounded {
		return "unbounded"
	}
	return fmt.Sprintf("%+.0f%%", u.HeadroomPercent)
}

// money rounds to the dollar, as the spreadsheet shows totals.
func money(v float64) string { return "$" + group(math.Round(v), 0) }

func cents(v float64) string { return "$" + group(v, 2) }

func gb(v float64) string { return group(v, 2) + " GB" }

// group formats v with the given decimals and thousands separators.
func group(v float64, decimals int) string {
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, ch := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	out := b.String()
	if hasFrac {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}
