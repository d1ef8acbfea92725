package reports

import "html/template"

// pageCSS is inline so the page needs nothing from the network.
const pageCSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 24px auto; max-width: 1100px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #666; margin: 0 0 16px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th { white-space: normal; vertical-align: bottom; }
th { background: #f6f6f6; font-weight: 600; }
td:first-child, th:first-child { text-align: left; }
table.kv td { text-align: left; white-space: normal; }
table.kv td:first-child { color: #666; width: 130px; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; vertical-align: baseline; }
.err { color: #b00; white-space: normal; text-align: left; }
.cols { display: flex; gap: 32px; flex-wrap: wrap; }
svg { max-width: 100%; height: auto; display: block; margin: 8px 0; }
svg text { font: 12px system-ui, sans-serif; fill: #333; }
svg text.title { font-size: 14px; font-weight: 600; }
svg text.value { font-size: 11px; fill: #000; }
svg text.legend { font-size: 12px; }
.note { color: #666; font-size: 12px; max-width: 860px; }
`

var benchTemplate = template.Must(template.New("bench").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>` + pageCSS + `</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="sub">Started {{.Started}} · {{len .Runs}} runs, interleaved across targets in rounds · ratios are against {{with .Rows}}{{(index . 0).Target}}{{end}}</p>

<div class="cols">
<div>
<h2>Workload</h2>
<table class="kv">{{range .Workload}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>{{end}}</table>
</div>
<div>
<h2>Machine</h2>
<table class="kv">{{range .Host}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>{{else}}<tr><td>not recorded</td></tr>{{end}}</table>
</div>
</div>

<h2>Summary</h2>
<div class="scroll"><table>
<tr><th>target</th><th>runs</th><th>produce MB/s</th><th>produce records/s</th><th>consume MB/s</th><th>produce p99 ms</th>{{if .HasE2E}}<th>e2e p99 ms</th>{{end}}<th>produce ×</th><th>consume ×</th></tr>
{{range .Rows}}<tr><td><span class="swatch" style="background:{{index $.Colours .Target}}"></span>{{.Target}}</td><td>{{.Runs}}</td><td>{{.Produce}}</td><td>{{.ProduceRecs}}</td><td>{{.Consume}}</td><td>{{.P99}}</td>{{if $.HasE2E}}<td>{{.E2E}}</td>{{end}}<td>{{.ProduceRatio}}</td><td>{{.ConsumeRatio}}</td></tr>
{{end}}</table></div>
<p class="note">Medians over the rounds, with the min–max range in brackets. MB is 2<sup>20</sup> bytes, as in kafka-producer-perf-test and OpenMessaging Benchmark.</p>

<h2>Latency</h2>
{{.Latency}}
{{with .E2E}}{{.}}{{end}}
<p class="note">HdrHistogram percentiles of the measured window (warm-up excluded). In open loop a record's latency runs from its intended send time, so a stalled broker is charged for every record it delayed.</p>

<h2>Throughput</h2>
{{.Throughput}}

<h2>Resources</h2>
<div class="scroll"><table>
<tr><th>target</th><th>peak RSS MiB</th><th>broker CPU s</th><th>written MiB</th><th>client CPU s</th><th>RSS ×</th><th>CPU ×</th></tr>
{{range .Rows}}<tr><td><span class="swatch" style="background:{{index $.Colours .Target}}"></span>{{.Target}}</td><td>{{.RSS}}</td><td>{{.CPU}}</td><td>{{.Written}}</td><td>{{.Client}}</td><td>{{.RSSRatio}}</td><td>{{.CPURatio}}</td></tr>
{{end}}</table></div>
<p class="note">Broker figures come from /proc for targets that are local processes, over the produce and consume phases; peak RSS is the largest VmHWM over the rounds. A broker that is fast by burning more CPU shows it here.</p>
{{range .Rows}}{{if .Error}}<p class="err">{{.Target}} failed: {{.Error}}</p>{{end}}{{end}}

<h2>Runs</h2>
<div class="scroll"><table>
<tr><th>target</th><th>round</th><th>produce MB/s</th><th>records/s</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>consume MB/s</th><th>broker CPU s</th><th>start s</th></tr>
{{range .Runs}}<tr><td>{{.Driver}}</td><td>{{.Round}}</td><td>{{printf "%.1f" .PublishThroughputMBs}}</td><td>{{printf "%.0f" .PublishRate}}</td><td>{{printf "%.2f" .AggregatedPublishLatency50pct}}</td><td>{{printf "%.2f" .AggregatedPublishLatency99pct}}</td><td>{{printf "%.2f" .AggregatedPublishLatency999pct}}</td><td>{{printf "%.2f" .AggregatedPublishLatencyMax}}</td><td>{{printf "%.1f" .ConsumeThroughputMBs}}</td><td>{{printf "%.1f" .BrokerCPUSeconds}}</td><td>{{printf "%.1f" .BrokerStartSeconds}}</td></tr>
{{if .Error}}<tr><td colspan="11" class="err">{{.Error}}</td></tr>{{end}}{{end}}</table></div>
</body>
</html>
`))
