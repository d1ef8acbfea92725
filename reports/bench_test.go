package reports

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/highwater-io/highwater/bench"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files under testdata/")

// syntheticRuns is a three-target, three-round comparison with made-up but
// plausible figures: reference fast and lean, kafka slower and hungrier,
// kfake in between with one failed round.
func syntheticRuns() []bench.RunResult {
	type shape struct {
		name            string
		produceMBps     float64
		consumeMBps     float64
		medianMs, tail  float64
		rssMiB, cpuSecs float64
	}
	shapes := []shape{
		{"reference", 410, 620, 3.1, 4, 96, 9.5},
		{"kafka", 290, 480, 5.2, 9, 1180, 21},
		{"kfake", 150, 260, 7.5, 6, 640, 17},
	}
	var runs []bench.RunResult
	for round := 1; round <= 3; round++ {
		for _, s := range shapes {
			jitter := 1 + 0.04*float64(round-2)
			r := bench.RunResult{Target: s.name, Round: round, Topic: "bench", StartSeconds: 0.4, Measured: true, ClientCPUSeconds: 6.1 * jitter}
			if s.name == "kfake" && round == 2 {
				r.Err = "produce: bench: no progress: producer acknowledged nothing for 30s"
				runs = append(runs, r)
				continue
			}
			h := bench.NewLatencyHist()
			// A log-normal-ish body and a heavy tail, deterministic.
			for i := 1; i <= 20000; i++ {
				q := float64(i) / 20001
				ms := s.medianMs * math.Exp(0.35*math.Sqrt2*math.Erfinv(2*q-1)) * jitter
				if q > 0.99 {
					ms *= 1 + s.tail*(q-0.99)*100
				}
				h.Record(time.Duration(ms * float64(time.Millisecond)))
			}
			sum := h.Summary()
			r.Produce = bench.ProduceResult{
				Records: 1_000_000, Bytes: 1_024_000_000, Seconds: 1024 / (s.produceMBps * jitter),
				RecordsPerSec: s.produceMBps * jitter * 1024, MBPerSec: s.produceMBps * jitter, Latency: sum,
				TotalRecords: 1_200_000, TotalBytes: 1_228_800_000, WarmupExcluded: true, Hist: h,
			}
			r.Consume = bench.ConsumeResult{Records: 1_200_000, Bytes: 1_228_800_000, MBPerSec: s.consumeMBps / jitter, RecordsPerSec: s.consumeMBps / jitter * 1024}
			r.Broker = bench.ProcStats{PeakRSSBytes: int64(s.rssMiB * jitter * (1 << 20)), CPUSeconds: s.cpuSecs * jitter, WriteBytes: 1_300_000_000, Processes: 1}
			runs = append(runs, r)
		}
	}
	return runs
}

func syntheticPage() BenchPage {
	runs := syntheticRuns()
	w := bench.DefaultWorkload()
	w.Records = 1_200_000
	rep := bench.NewReport(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC), w, runs)
	rep.Host = map[string]string{"cpus": "2", "cpuModel": "Example CPU @ 2.0GHz", "loadavgStart": "0.10 0.20 0.30", "os": "linux/amd64"}
	return NewBenchPage(rep, runs)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *rewrite {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -rewrite to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gotPath := filepath.Join(t.TempDir(), name)
		_ = os.WriteFile(gotPath, got, 0o644)
		t.Errorf("%s differs from the golden file; got written to %s (diff it, then run with -rewrite)", path, gotPath)
	}
}

func TestBenchHTMLGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := syntheticPage().WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	// Self-contained: nothing fetched from anywhere (the SVG namespace is
	// an identifier, not a fetch).
	for _, bad := range []string{"<script", "<link", "src=", "@import", "url("} {
		if strings.Contains(html, bad) {
			t.Errorf("page contains %q: not self-contained", bad)
		}
	}
	for _, want := range []string{"<svg", "polyline", "99.99%", "reference", "kafka", "kfake", "failed", "Example CPU", "peak RSS"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	golden(t, "bench.html", buf.Bytes())
}

func TestBenchHTMLEmpty(t *testing.T) {
	// No runs at all still renders a page, with "no data" plots.
	var buf bytes.Buffer
	rep := bench.NewReport(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), bench.DefaultWorkload(), nil)
	if err := NewBenchPage(rep, nil).WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "no latency samples") || !strings.Contains(buf.String(), "no throughput measured") {
		t.Errorf("empty page lacks its no-data notes")
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		top  float64
		want string
	}{
		{1, "0 0.2 0.4 0.6 0.8 1"},
		{7.3, "0 2 4 6 8"},
		{412, "0 100 200 300 400 500"},
		{1.9e6, "0 500k 1M 1.5M 2M"},
		{0, "0 0.2 0.4 0.6 0.8 1"},
		{math.NaN(), "0 0.2 0.4 0.6 0.8 1"},
	} {
		var got []string
		for _, v := range niceTicks(tc.top) {
			got = append(got, formatTick(v))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("niceTicks(%v) = %v, want %s", tc.top, got, tc.want)
		}
	}
}

func TestCapacityHTMLGolden(t *testing.T) {
	cfg := bench.DefaultCapacityConfig()
	cfg.StartRatePerSec = 100_000
	res := bench.CapacityResult{Target: "reference", Config: cfg, Found: true, Brokers: 1,
		RecordsPerSec: 796753, MBPerSec: 778.08, P99Ms: 48.3, RecordsPerSecPerBroker: 796753, MBPerSecPerBroker: 778.08,
		CoresUsed: 0.57, RecordsPerSecPerCore: 1390878, MBPerSecPerCore: 1358.28, ConsumeMBPerSec: 780.2,
		LimitedBy: "at 1000000 records/s: sent/requested 0.9843 < 0.9950"}
	for _, p := range []struct{ rate, sent, p99 float64 }{
		{100000, 100176, 8.4}, {200000, 200314, 8.7}, {400000, 401578, 13.6}, {800000, 796753, 48.3},
		{1600000, 604408, 2631.7}, {1200000, 1189498, 45.4}, {1000000, 984251, 43.5},
	} {
		pr := bench.Probe{RatePerSec: p.rate, SentPerSec: p.sent, SentRatio: p.sent / p.rate, MBPerSec: p.sent / 1024, P99Ms: p.p99,
			WallSeconds: 2.1, BrokerCPUSeconds: 0.5, Measured: true}
		res.Probes = append(res.Probes, cfg.Judge(pr))
	}
	var buf bytes.Buffer
	page := CapacityPage{Title: "highwater bench --capacity", Result: res, Host: map[string]string{"cpus": "2"}}
	if err := page.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"per core", "1358.28", "bound 200 ms", "sent/requested 0.3778"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	golden(t, "capacity.html", buf.Bytes())
	var empty bytes.Buffer
	if err := (CapacityPage{Title: "none"}).WriteHTML(&empty); err != nil || !strings.Contains(empty.String(), "no probes") {
		t.Errorf("empty capacity page: %v", err)
	}
}
