package reports

import "html/template"

// runCSS adds the run report's verdict colours and wrapping tables to the
// shared page style.
const runCSS = `
.verdict { display: inline-block; padding: 4px 12px; border-radius: 4px; font-weight: 700; font-size: 18px; }
.verdict.ok, td.ok { color: #0a6b2d; } .verdict.ok { background: #dff3e4; }
.verdict.bad, td.bad { color: #a00; } .verdict.bad { background: #f8dcdc; }
.verdict.unk, td.unk { color: #8a5a00; } .verdict.unk { background: #fbeccc; }
table.wrap td, table.wrap th { white-space: normal; text-align: left; vertical-align: top; }
code { font-size: 12px; background: #f4f4f4; padding: 1px 4px; word-break: break-all; }
.meaning { color: #666; font-size: 12px; }
`

var runTemplate = template.Must(template.New("run").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>` + pageCSS + runCSS + `</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="sub">verdict <span id="verdict" class="verdict {{.VerdictClass}}">{{.Verdict}}</span></p>
{{range .Notes}}<p class="err">{{.}}</p>{{end}}
<table class="kv">{{range .Meta}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>{{end}}
{{if .Replay}}<tr><td>replay</td><td><code>{{.Replay}}</code></td></tr>{{end}}</table>

<h2>Checkers</h2>
<div class="scroll"><table class="wrap">
<tr><th>checker</th><th>verdict</th><th>anomalies</th><th>findings</th><th>figures</th></tr>
{{range .Results}}<tr><td>{{.Checker}}</td><td class="{{.Class}}">{{.Valid}}{{if .Reason}} ({{.Reason}}){{end}}</td><td>{{or .Counts "none"}}</td><td>{{.Findings}}</td><td class="meaning">{{.Stats}}</td></tr>
{{end}}</table></div>

<h2>Anomalies</h2>
{{if .Anomalies}}<div class="scroll"><table class="wrap" id="anomalies">
<tr><th>checker</th><th>type</th><th>partition</th><th>when</th><th>explanation</th></tr>
{{range .Anomalies}}<tr><td>{{.Checker}}</td><td><b>{{.Type}}</b>{{if .Meaning}}<div class="meaning">{{.Meaning}}</div>{{end}}</td><td>{{.Where}}</td><td>{{.When}}</td><td>{{.Explanation}}{{if .Artifact}} <a href="{{.Artifact}}">porcupine visualization</a>{{end}}</td></tr>
{{end}}</table></div>
<p class="note">Each checker lists at most 20 anomalies of a type; the counts above are complete.</p>
{{else}}<p>None.</p>{{end}}

{{if .Findings}}<h2>Findings (allowed, not anomalies)</h2>
<div class="scroll"><table class="wrap" id="findings">
<tr><th>checker</th><th>type</th><th>partition</th><th>when</th><th>explanation</th></tr>
{{range .Findings}}<tr><td>{{.Checker}}</td><td><b>{{.Type}}</b>{{if .Meaning}}<div class="meaning">{{.Meaning}}</div>{{end}}</td><td>{{.Where}}</td><td>{{.When}}</td><td>{{.Explanation}}</td></tr>
{{end}}</table></div>{{end}}

{{if .Artifacts}}<h2>Linearizability visualizations</h2>
<ul>{{range .Artifacts}}<li><a href="{{.}}">{{.}}</a></li>{{end}}</ul>
<p class="note">Porcupine's pages show the longest legal order of each failing partition's operations; hover an operation to see the log state.</p>{{end}}

<h2>Timeline</h2>
{{if .Throughput}}{{.Throughput}}
{{.Latency}}
<p class="note">Fault windows are shaded; red bars on the axis mark stretches of the workload phase with no acknowledged send (ack gaps, how long writes stalled); anomalies and findings are outlined where they happened. Hover for details.</p>
{{if .Faults}}<div class="scroll"><table id="faults">
<tr><th>fault</th><th>from</th><th>to</th><th>description</th></tr>
{{range .Faults}}<tr><td><span class="swatch" style="background:{{.Colour}}"></span>{{.Fault}}</td><td>{{.Start}}</td><td>{{.End}}</td><td style="text-align:left">{{.Description}}</td></tr>
{{end}}</table></div>{{end}}
{{if .Gaps}}<div class="scroll"><table id="gaps">
<tr><th>ack gap</th><th>from</th><th>to</th></tr>
{{range .Gaps}}<tr><td>{{.Length}}</td><td>{{.Start}}</td><td>{{.End}}</td></tr>
{{end}}</table></div>{{end}}
{{else}}<p>No history in the run directory: no timeline.</p>{{end}}
</body>
</html>
`))
